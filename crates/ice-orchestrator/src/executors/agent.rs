//! `agent` nodes: the agent loop of [`crate::agent`] with the node's input
//! context (without the duplicate `inputs` key), as JSON, for its
//! question.

use crate::agent::{AgentConfigError, CompiledAgent};
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use async_trait::async_trait;
use ice_core::node::{NodeConfig, NodeKind};
use serde_json::Value;
use std::sync::Arc;

/// Runs `agent` nodes.
pub struct AgentExecutor;

impl From<AgentConfigError> for PrepareError {
    fn from(e: AgentConfigError) -> Self {
        match e {
            AgentConfigError::UnknownRef(m) => PrepareError::unknown_ref(m),
            AgentConfigError::Invalid(m) => PrepareError::from(m),
        }
    }
}

#[async_trait]
impl NodeExecutor for AgentExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Agent(a) = &node.kind else {
            return Err(format!("node `{}` is not an agent node", node.id()).into());
        };
        Ok(Some(Arc::new(CompiledAgent::compile(a, ctx.env.runtime)?)))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let agent: &CompiledAgent = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("agent node was not prepared"))?;
        let question = Value::Object(ctx.context().as_child_inputs());
        agent.run(question.to_string(), ctx).await
    }
}
