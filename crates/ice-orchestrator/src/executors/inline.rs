//! Inline node lists (condition paths, loop bodies, parallel branches):
//! compiled once with their parent, run by the same scheduler as the top
//! level, with the parent's context as their scope.

use crate::error::{ErrorKind, NodeError};
use crate::executor::{NodeCtx, PrepareCtx};
use crate::plan::{build_list, NodeList};
use crate::run::RunShared;
use crate::scheduler::{run_list, ListOutcome, Stop};
use ice_core::diagnostic::Findings;
use ice_core::result::NodeStatus;
use ice_core::NodeConfig;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// Compiles an inline list of `parent` (whose id in results is `ctx.id`);
/// `extra` are names the list's templates may read besides the parent's
/// context (loop variables).
pub fn compile(
    nodes: &[&NodeConfig],
    parent: &NodeConfig,
    ctx: &PrepareCtx<'_>,
    extra: &[&str],
) -> Result<NodeList, String> {
    let mut scope: HashSet<String> = parent.common.dependencies.iter().cloned().collect();
    scope.extend(parent.common.input_mappings.keys().cloned());
    scope.extend(extra.iter().map(|s| s.to_string()));
    let mut f = Findings::default();
    let owned: Vec<NodeConfig> = nodes.iter().map(|n| (*n).clone()).collect();
    build_list(owned, ctx.id, &scope, ctx.env, &mut f).ok_or_else(|| {
        f.errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Runs an inline list as part of `run`, with the parent's context plus
/// `extra` values.
pub async fn run<I>(list: &NodeList, ctx: &NodeCtx<'_>, run: &RunShared, extra: I) -> ListOutcome
where
    I: IntoIterator<Item = (Arc<str>, Arc<Value>), IntoIter: ExactSizeIterator>,
{
    let extra = extra.into_iter();
    let context = ctx.context();
    let mut scope = context.scope_with_room(extra.len());
    scope.extend(extra);
    // The parent now only waits: its slot goes to the nested nodes.
    ctx.slot.release();
    run_list(list, run, ctx.runtime, context.inputs(), &scope).await
}

/// The first failure of a finished list, as an error of its parent; a
/// cancelled list is a cancellation.
pub fn failure(list: &NodeList, outcome: &ListOutcome) -> Option<NodeError> {
    if outcome.stop == Some(Stop::Cancelled) {
        return Some(NodeError::new(ErrorKind::Cancelled, "cancelled"));
    }
    list.nodes
        .iter()
        .zip(&outcome.states)
        .find(|(_, s)| s.status == NodeStatus::Failed)
        .map(|(node, state)| {
            NodeError::tool(
                format!(
                    "node {} failed: {}",
                    node.id,
                    state.error.as_deref().unwrap_or("unknown error")
                ),
                false,
            )
        })
}

/// The output of the list's last node in document order, if it ran.
pub fn last_output(outcome: &ListOutcome) -> Option<Arc<Value>> {
    outcome.states.last().and_then(|s| s.output.clone())
}
