//! `tool` nodes: render `tool_args` (but the tool's raw arguments), charge
//! the tool budget, call the tool.

use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::tool::Tool;
use async_trait::async_trait;
use ice_core::node::{NodeConfig, NodeKind};
use ice_core::template::ValueTemplate;
use ice_core::validate::raw_args;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Runs `tool` nodes.
pub struct ToolExecutor;

/// A tool node, compiled.
struct PreparedTool {
    tool: Arc<dyn Tool>,
    /// `None` when `tool_args` is empty: the tool gets the context.
    args: Option<Vec<(String, ValueTemplate)>>,
    /// The tool's declared parameters, for filtering the context.
    params: Option<Vec<String>>,
}

#[async_trait]
impl NodeExecutor for ToolExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Tool(t) = &node.kind else {
            return Err(format!("node `{}` is not a tool node", node.id()).into());
        };
        let tool = ctx
            .env
            .runtime
            .tools()
            .get(&t.tool_name)
            .cloned()
            .ok_or_else(|| format!("unknown tool `{}`", t.tool_name))?;
        let args = if t.tool_args.is_empty() {
            None
        } else {
            let raw: Vec<&str> = raw_args(&t.tool_name).map(|(a, _)| a).collect();
            let compiled = t
                .tool_args
                .iter()
                .map(|(k, v)| {
                    let template = if raw.contains(&k.as_str()) {
                        ValueTemplate::Literal(v.clone())
                    } else {
                        ValueTemplate::compile(v).map_err(|e| format!("tool_args.{k}: {e}"))?
                    };
                    Ok((k.clone(), template))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Some(compiled)
        };
        // Only a node without arguments needs the tool's parameters.
        let params = match args {
            Some(_) => None,
            None => tool
                .input_schema()
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect()),
        };
        Ok(Some(Arc::new(PreparedTool { tool, args, params })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let prepared: &PreparedTool = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("tool node was not prepared"))?;
        let args = match &prepared.args {
            Some(args) => {
                let mut map = Map::with_capacity(args.len());
                for (k, t) in args {
                    let value = t
                        .render(ctx.jinja)
                        .map_err(|e| NodeError::validation(format!("tool_args.{k}: {e}")))?;
                    map.insert(k.clone(), value);
                }
                Value::Object(map)
            }
            None => {
                let mut all = ctx.context().to_json();
                if let (Some(params), Value::Object(map)) = (&prepared.params, &mut all) {
                    map.retain(|k, _| params.contains(k));
                }
                all
            }
        };
        ctx.run.budget.charge_tool()?;
        Ok(super::as_output(
            prepared.tool.call(args, &ctx.tool_context()).await?,
        ))
    }
}
