//! `llm` nodes: one prompt, one answer; with `json_schema` the answer is
//! parsed and checked against it.

use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::llm::{as_text, call_model, ChatMessage, ChatRequest, ProviderCell, Role, Sampling};
use async_trait::async_trait;
use ice_core::node::{NodeConfig, NodeKind};
use ice_core::template::ValueTemplate;
use serde_json::{json, Value};
use std::sync::Arc;

/// Temperature when neither the node nor its `llm_config` sets one.
const DEFAULT_TEMPERATURE: f64 = 0.7;

/// Runs `llm` nodes.
pub struct LlmExecutor;

struct PreparedLlm {
    model: ValueTemplate,
    prompt: ValueTemplate,
    provider: ProviderCell,
    sampling: Sampling,
    json_schema: Option<Value>,
}

#[async_trait]
impl NodeExecutor for LlmExecutor {
    fn prepare(&self, node: &NodeConfig, _ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Llm(l) = &node.kind else {
            return Err(format!("node `{}` is not an llm node", node.id()).into());
        };
        let config = l.llm_config.clone().unwrap_or_default();
        let mut sampling = Sampling::from_config(&config);
        sampling.temperature = l
            .temperature
            .or(sampling.temperature)
            .or(Some(DEFAULT_TEMPERATURE));
        sampling.max_tokens = l.max_tokens.or(sampling.max_tokens);
        let compile = |field: &str, text: &str| {
            ValueTemplate::compile_str(text).map_err(|e| format!("{field}: {}", e.message))
        };
        Ok(Some(Arc::new(PreparedLlm {
            model: compile("model", &l.model)?,
            prompt: compile("prompt", &l.prompt)?,
            provider: ProviderCell::new(config),
            sampling,
            json_schema: l.json_schema.clone(),
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let p: &PreparedLlm = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("llm node was not prepared"))?;
        let provider = p.provider.get(ctx.runtime)?;
        let prompt = as_text(p.prompt.render(ctx.jinja)?);
        let request = ChatRequest {
            model: as_text(p.model.render(ctx.jinja)?),
            messages: vec![ChatMessage::new(Role::User, prompt.clone())],
            tools: Vec::new(),
            sampling: p.sampling.clone(),
            json_schema: p.json_schema.clone(),
        };
        let response = call_model(provider.as_ref(), &request, ctx).await?;
        let mut output = json!({
            "response": response.text,
            "text": response.text,
            "prompt": prompt,
            "model": response.model,
            "usage": response.usage,
        });
        if let Some(schema) = &p.json_schema {
            output["json"] = structured(&response.text, schema)?;
        }
        Ok(output)
    }
}

/// The answer as JSON of `schema`. A model that answers otherwise may do
/// better on another attempt, so the error is retryable.
fn structured(text: &str, schema: &Value) -> Result<Value, NodeError> {
    let value: Value = serde_json::from_str(strip_fence(text)).map_err(|e| {
        NodeError::tool(
            format!("the answer is not the JSON that json_schema asks for: {e}"),
            true,
        )
    })?;
    ice_core::conform::conform(&value, schema).map_err(|e| {
        NodeError::tool(format!("the answer does not match json_schema: {e}"), true)
    })?;
    Ok(value)
}

/// The text inside a Markdown code fence, which some models add.
fn strip_fence(text: &str) -> &str {
    let trimmed = text.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_answers_are_parsed_and_checked() {
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
        assert_eq!(
            structured("```json\n{\"n\": 2}\n```", &schema).unwrap(),
            json!({"n": 2})
        );
        let wrong = structured("{\"n\": \"two\"}", &schema).unwrap_err();
        assert!(
            wrong.retryable && wrong.message.contains("$.n"),
            "{}",
            wrong.message
        );
        assert!(structured("two", &schema)
            .unwrap_err()
            .message
            .contains("not the JSON"));
    }
}
