//! `echo`, `sleep` and `fail`.

use crate::error::NodeError;
use crate::tool::{str_arg, u64_arg, Tool, ToolContext};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// Returns its arguments.
pub struct Echo;

#[async_trait]
impl Tool for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn description(&self) -> &str {
        "Returns its arguments unchanged (with no arguments: the node's input context)."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "additionalProperties": true})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "additionalProperties": true})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        Ok(args)
    }
}

/// Sleeps; cancelled with the run.
pub struct Sleep;

#[async_trait]
impl Tool for Sleep {
    fn name(&self) -> &str {
        "sleep"
    }
    fn description(&self) -> &str {
        "Waits `ms` milliseconds (cancellable)."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"slept_ms": {"type": "integer"}}})
    }
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let ms =
            u64_arg(&args, "ms")?.ok_or_else(|| NodeError::validation("missing argument `ms`"))?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(json!({"slept_ms": ms})),
            _ = ctx.cancel.cancelled() => Err(NodeError::new(crate::error::ErrorKind::Cancelled, "cancelled")),
        }
    }
}

/// Always fails.
pub struct Fail;

#[async_trait]
impl Tool for Fail {
    fn name(&self) -> &str {
        "fail"
    }
    fn description(&self) -> &str {
        "Always fails with `message`; `retryable: true` lets retries happen."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"message": {"type": "string"}, "retryable": {"type": "boolean"}}, "required": ["message"]})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let message = str_arg(&args, "message")?;
        let retryable = args
            .get("retryable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Err(NodeError::tool(message, retryable))
    }
}
