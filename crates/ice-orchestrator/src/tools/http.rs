//! `http_request`: one HTTP call with reqwest. Transport errors, timeouts,
//! 429 and 5xx are retryable; other statuses outside `ok_statuses` are not.

use crate::error::{ErrorKind, NodeError};
use crate::tool::{str_arg, u64_arg, Tool, ToolContext};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// Makes HTTP requests.
#[derive(Default)]
pub struct HttpRequest {
    client: OnceLock<reqwest::Client>,
}

/// The default per-request timeout.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

impl HttpRequest {
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(reqwest::Client::new)
    }
}

fn ok_statuses(args: &Value) -> Result<Option<Vec<u16>>, NodeError> {
    match args.get("ok_statuses") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| {
                        NodeError::validation(format!("ok_statuses holds {v}, not a status code"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(NodeError::validation(format!(
            "ok_statuses must be a list of status codes, got {other}"
        ))),
    }
}

fn string_map<'a>(args: &'a Value, name: &str) -> Result<Vec<(&'a str, String)>, NodeError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.as_str(), text)
            })
            .collect()),
        Some(other) => Err(NodeError::validation(format!(
            "argument `{name}` must be an object, got {other}"
        ))),
    }
}

#[async_trait]
impl Tool for HttpRequest {
    fn name(&self) -> &str {
        "http_request"
    }
    fn description(&self) -> &str {
        "Makes an HTTP request; statuses outside `ok_statuses` (default 200–299) fail, 429 and 5xx retryably."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "method": {"type": "string"},
            "url": {"type": "string"},
            "headers": {"type": "object"},
            "query": {"type": "object"},
            "json": {},
            "body": {"type": "string"},
            "timeout_ms": {"type": "integer", "minimum": 1},
            "ok_statuses": {"type": "array", "items": {"type": "integer"}}
        }, "required": ["url"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "status": {"type": "integer"}, "headers": {"type": "object"}, "body": {"type": "string"}, "json": {}
        }})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let url = str_arg(&args, "url")?;
        let method_name = args
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let method = reqwest::Method::from_bytes(method_name.as_bytes())
            .map_err(|_| NodeError::validation(format!("`{method_name}` is not an HTTP method")))?;
        let timeout =
            Duration::from_millis(u64_arg(&args, "timeout_ms")?.unwrap_or(DEFAULT_TIMEOUT_MS));
        let mut request = self.client().request(method, url).timeout(timeout);
        for (k, v) in string_map(&args, "headers")? {
            request = request.header(k, v);
        }
        let query = string_map(&args, "query")?;
        if !query.is_empty() {
            request = request.query(&query);
        }
        if let Some(body) = args.get("json").filter(|v| !v.is_null()) {
            request = request.json(body);
        } else if let Some(body) = args.get("body").and_then(Value::as_str) {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                NodeError::new(
                    ErrorKind::Timeout,
                    format!(
                        "{method_name} {url} timed out after {}ms",
                        timeout.as_millis()
                    ),
                )
            } else if e.is_builder() {
                NodeError::validation(format!("{method_name} {url}: {e}"))
            } else {
                NodeError::new(ErrorKind::Transport, format!("{method_name} {url}: {e}"))
            }
        })?;
        let status = response.status().as_u16();
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect();
        let body = response.text().await.map_err(|e| {
            if e.is_timeout() {
                NodeError::new(
                    ErrorKind::Timeout,
                    format!("{method_name} {url} timed out reading the body"),
                )
            } else {
                NodeError::new(
                    ErrorKind::Transport,
                    format!("{method_name} {url}: reading the body: {e}"),
                )
            }
        })?;
        let ok = match ok_statuses(&args)? {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        };
        if !ok {
            let retryable = status == 429 || status >= 500;
            let excerpt: String = body.chars().take(200).collect();
            return Err(NodeError {
                kind: ErrorKind::Http,
                message: format!("{method_name} {url} answered {status}: {excerpt}"),
                retryable,
            });
        }
        let mut out = json!({"status": status, "headers": headers, "body": body});
        if let Ok(parsed) = serde_json::from_str::<Value>(out["body"].as_str().unwrap_or_default())
        {
            out["json"] = parsed;
        }
        Ok(out)
    }
}
