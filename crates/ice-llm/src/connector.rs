//! From `llm_config` to a provider: the provider names ice knows, their
//! default base URLs and the environment variables their keys come from.

use crate::openai::OpenAiCompatible;
use ice_orchestrator::llm::{Endpoint, LlmConnector, LlmProvider};
use std::sync::Arc;

/// An OpenAI-compatible provider ice knows by name.
struct KnownProvider {
    name: &'static str,
    base_url: Option<&'static str>,
    key_variable: Option<&'static str>,
    base_url_variable: Option<&'static str>,
}

/// Every provider name accepted in `llm_config.provider`.
const PROVIDERS: &[KnownProvider] = &[
    KnownProvider {
        name: "openai",
        base_url: Some("https://api.openai.com/v1"),
        key_variable: Some("OPENAI_API_KEY"),
        base_url_variable: Some("OPENAI_BASE_URL"),
    },
    KnownProvider {
        name: "deepseek",
        base_url: Some("https://api.deepseek.com/v1"),
        key_variable: Some("DEEPSEEK_API_KEY"),
        base_url_variable: None,
    },
    KnownProvider {
        name: "groq",
        base_url: Some("https://api.groq.com/openai/v1"),
        key_variable: Some("GROQ_API_KEY"),
        base_url_variable: None,
    },
    KnownProvider {
        name: "ollama",
        base_url: Some("http://127.0.0.1:11434/v1"),
        key_variable: None,
        base_url_variable: Some("OLLAMA_BASE_URL"),
    },
    KnownProvider {
        name: "custom",
        base_url: None,
        key_variable: None,
        base_url_variable: None,
    },
];

/// Makes providers over HTTP. Keys and base URLs come from `llm_config`,
/// else from the provider's usual environment variables.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpConnector;

impl LlmConnector for HttpConnector {
    fn connect(&self, endpoint: &Endpoint) -> Result<Arc<dyn LlmProvider>, String> {
        let known = PROVIDERS
            .iter()
            .find(|p| p.name == endpoint.provider)
            .ok_or_else(|| unknown_provider(&endpoint.provider))?;
        let from_env = |var: Option<&str>| {
            var.and_then(|v| std::env::var(v).ok())
                .filter(|v| !v.is_empty())
        };
        let base_url = endpoint
            .base_url
            .clone()
            .or_else(|| from_env(known.base_url_variable))
            .or_else(|| known.base_url.map(str::to_owned))
            .ok_or_else(|| format!("provider `{}` needs `llm_config.base_url`", known.name))?;
        let api_key = endpoint
            .api_key
            .clone()
            .or_else(|| from_env(known.key_variable));
        // The public services refuse requests without a key; say so before
        // sending one. A server given by base URL may need none.
        if api_key.is_none()
            && endpoint.base_url.is_none()
            && from_env(known.base_url_variable).is_none()
        {
            if let Some(var) = known.key_variable {
                return Err(format!(
                    "provider `{}` needs an API key: set {var} or `llm_config.api_key`",
                    known.name
                ));
            }
        }
        let provider =
            OpenAiCompatible::new(base_url, api_key, endpoint.timeout, endpoint.max_retries)?;
        Ok(Arc::new(provider))
    }
}

fn unknown_provider(name: &str) -> String {
    let known: Vec<&str> = PROVIDERS.iter().map(|p| p.name).collect();
    let hint = match name {
        "anthropic" | "google" | "local" => format!(
            "; provider `{name}` is not supported by this build yet: use an OpenAI-compatible server through `provider: custom` and `base_url`"
        ),
        _ => String::new(),
    };
    format!(
        "unknown LLM provider `{name}` (known: {}){hint}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn endpoint(provider: &str, base_url: Option<&str>) -> Endpoint {
        Endpoint {
            provider: provider.into(),
            base_url: base_url.map(str::to_owned),
            api_key: None,
            timeout: Duration::from_secs(1),
            max_retries: 0,
        }
    }

    #[test]
    fn providers_are_known_by_name_and_explain_what_they_miss() {
        assert!(HttpConnector
            .connect(&endpoint("custom", Some("http://127.0.0.1:1/v1")))
            .is_ok());
        let custom = HttpConnector
            .connect(&endpoint("custom", None))
            .err()
            .unwrap();
        assert!(custom.contains("base_url"), "{custom}");
        let anthropic = HttpConnector
            .connect(&endpoint("anthropic", None))
            .err()
            .unwrap();
        assert!(
            anthropic.contains("not supported") && anthropic.contains("openai"),
            "{anthropic}"
        );
        if std::env::var_os("DEEPSEEK_API_KEY").is_none() {
            let keyless = HttpConnector
                .connect(&endpoint("deepseek", None))
                .err()
                .unwrap();
            assert!(keyless.contains("DEEPSEEK_API_KEY"), "{keyless}");
        }
    }
}
