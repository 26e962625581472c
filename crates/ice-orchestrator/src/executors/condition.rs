//! `condition` nodes: evaluate the expression, run the inline path taken,
//! skip the other (`branch_not_taken`). Top-level nodes named in a path are
//! gated by the scheduler from this node's `result`.

use super::inline;
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::plan::NodeList;
use crate::scheduler::NodeState;
use async_trait::async_trait;
use ice_core::node::{NodeConfig, NodeKind, PathItem};
use ice_core::result::SkipReason;
use ice_core::template::CompiledExpression;
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs `condition` nodes.
pub struct ConditionExecutor;

struct PreparedCondition {
    expression: CompiledExpression,
    true_path: NodeList,
    false_path: NodeList,
}

#[async_trait]
impl NodeExecutor for ConditionExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Condition(c) = &node.kind else {
            return Err(format!("node `{}` is not a condition node", node.id()).into());
        };
        let expression = CompiledExpression::compile(&c.expression).map_err(|e| e.message)?;
        Ok(Some(Arc::new(PreparedCondition {
            expression,
            true_path: inline::compile(&PathItem::inline_nodes(&c.true_path), node, ctx, &[])?,
            false_path: inline::compile(&PathItem::inline_nodes(&c.false_path), node, ctx, &[])?,
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let prepared: &PreparedCondition = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("condition node was not prepared"))?;
        let taken = prepared.expression.eval_bool(ctx.jinja)?;
        let (path, other) = if taken {
            (&prepared.true_path, &prepared.false_path)
        } else {
            (&prepared.false_path, &prepared.true_path)
        };
        let skipped: Vec<NodeState> = other
            .nodes
            .iter()
            .map(|_| NodeState::skipped(SkipReason::BranchNotTaken))
            .collect();
        ctx.run.record_nested(other, &skipped);
        let outcome = inline::run(path, ctx, ctx.run, []).await;
        ctx.run.record_nested(path, &outcome.states);
        if let Some(error) = inline::failure(path, &outcome) {
            return Err(NodeError {
                message: format!("the {taken} path failed: {}", error.message),
                ..error
            });
        }
        Ok(json!({"result": taken, "branch": if taken { "true" } else { "false" }}))
    }
}
