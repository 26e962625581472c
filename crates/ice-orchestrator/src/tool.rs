//! Tools: the `Tool` trait, the registry, and what a tool sees of its run.

use crate::context::NodeContext;
use crate::error::NodeError;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a tool call can see besides its arguments.
pub struct ToolContext<'a> {
    /// The calling node's id.
    pub node_id: &'a str,
    /// The calling node's input context (read-only).
    pub context: &'a NodeContext,
    /// The directory file tools are confined to.
    pub workspace: &'a Path,
    /// Cancelled when the run is cancelled.
    pub cancel: &'a CancellationToken,
}

/// A tool: a named async function from JSON arguments to a JSON result.
///
/// ```
/// use async_trait::async_trait;
/// use ice_orchestrator::{Tool, ToolContext, NodeError};
/// use serde_json::{json, Value};
///
/// struct Shout;
///
/// #[async_trait]
/// impl Tool for Shout {
///     fn name(&self) -> &str { "shout" }
///     fn description(&self) -> &str { "Upper-cases `text`." }
///     fn input_schema(&self) -> Value {
///         json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
///     }
///     async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
///         let text = args["text"].as_str().ok_or_else(|| NodeError::validation("`text` must be a string"))?;
///         Ok(json!({"text": text.to_uppercase()}))
///     }
/// }
/// ```
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The name blueprints use in `tool_name`.
    fn name(&self) -> &str;
    /// One line for `ice tools list`.
    fn description(&self) -> &str;
    /// JSON Schema of the arguments.
    fn input_schema(&self) -> Value;
    /// JSON Schema of the result.
    fn output_schema(&self) -> Value {
        serde_json::json!({"type": "object"})
    }
    /// Runs the tool.
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError>;
}

/// Tools by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// Adds or replaces a tool.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.name().to_owned(), tool);
    }

    /// The tool of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    /// Every tool, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.values()
    }

    /// The tool names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }
}

/// Reads a required argument.
pub fn arg<'a>(args: &'a Value, name: &str) -> Result<&'a Value, NodeError> {
    args.get(name)
        .ok_or_else(|| NodeError::validation(format!("missing argument `{name}`")))
}

/// Reads a required string argument.
pub fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, NodeError> {
    arg(args, name)?
        .as_str()
        .ok_or_else(|| NodeError::validation(format!("argument `{name}` must be a string")))
}

/// Reads an optional non-negative integer argument.
pub fn u64_arg(args: &Value, name: &str) -> Result<Option<u64>, NodeError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| {
                NodeError::validation(format!(
                    "argument `{name}` must be a non-negative integer, got {v}"
                ))
            }),
    }
}
