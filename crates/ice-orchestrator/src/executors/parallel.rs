//! `parallel` nodes: run branches at once, decide by the wait strategy,
//! cancel what is still running once the outcome is decided, merge the
//! outputs of the branches that succeeded.

use super::inline;
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::plan::NodeList;
use crate::scheduler::NodeState;
use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use ice_core::node::{NodeConfig, NodeKind};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Runs `parallel` nodes.
pub struct ParallelExecutor;

/// When the node's outcome is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitStrategy {
    All,
    Any,
    FirstSuccess,
    NOfM(usize),
}

/// How the outputs of succeeded branches combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MergeStrategy {
    Error,
    LastWins,
    Collect,
}

struct PreparedParallel {
    branches: Vec<NodeList>,
    concurrency: usize,
    wait: WaitStrategy,
    merge: Option<MergeStrategy>,
}

fn wait_strategy(value: Option<&Value>, branches: usize) -> Result<WaitStrategy, String> {
    match value {
        None | Some(Value::Null) => Ok(WaitStrategy::All),
        Some(Value::String(s)) => match s.as_str() {
            "all" => Ok(WaitStrategy::All),
            "any" => Ok(WaitStrategy::Any),
            "first_success" => Ok(WaitStrategy::FirstSuccess),
            other => Err(format!(
                "unknown wait_strategy `{other}` (all, any, first_success or {{n_of_m: k}})"
            )),
        },
        Some(Value::Object(m)) => match m.get("n_of_m").and_then(Value::as_u64) {
            Some(k) if k >= 1 && k as usize <= branches => Ok(WaitStrategy::NOfM(k as usize)),
            _ => Err(format!(
                "wait_strategy n_of_m must be between 1 and the number of branches ({branches})"
            )),
        },
        Some(other) => Err(format!(
            "wait_strategy must be a string or {{n_of_m: k}}, got {other}"
        )),
    }
}

#[async_trait]
impl NodeExecutor for ParallelExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Parallel(p) = &node.kind else {
            return Err(format!("node `{}` is not a parallel node", node.id()).into());
        };
        let branches = p
            .branches
            .iter()
            .map(|b| inline::compile(&b.iter().collect::<Vec<_>>(), node, ctx, &[]))
            .collect::<Result<Vec<_>, _>>()?;
        let merge = match (p.merge_outputs.unwrap_or(true), p.merge_strategy.as_deref()) {
            (false, _) => None,
            (true, None | Some("error")) => Some(MergeStrategy::Error),
            (true, Some("last_wins")) => Some(MergeStrategy::LastWins),
            (true, Some("collect")) => Some(MergeStrategy::Collect),
            (true, Some(other)) => {
                return Err(format!(
                    "unknown merge_strategy `{other}` (error, last_wins or collect)"
                )
                .into())
            }
        };
        Ok(Some(Arc::new(PreparedParallel {
            wait: wait_strategy(p.wait_strategy.as_ref(), branches.len())?,
            concurrency: p.max_concurrency.map_or(usize::MAX, |c| c.max(1) as usize),
            branches,
            merge,
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let p: &PreparedParallel = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("parallel node was not prepared"))?;
        let n = p.branches.len();
        let mut results: Vec<Option<Result<Arc<Value>, NodeError>>> = vec![None; n];
        let mut running = FuturesUnordered::new();
        let mut next = 0;
        let (mut succeeded, mut failed) = (0usize, 0usize);
        let decided = loop {
            while next < n && running.len() < p.concurrency {
                let i = next;
                next += 1;
                let list = &p.branches[i];
                running.push(async move {
                    let outcome = inline::run(list, ctx, ctx.run, []).await;
                    ctx.run.record_nested(list, &outcome.states);
                    let result =
                        match inline::failure(list, &outcome) {
                            Some(e) => Err(e),
                            None => Ok(inline::last_output(&outcome)
                                .unwrap_or_else(|| Arc::new(Value::Null))),
                        };
                    (i, result)
                });
            }
            let Some((i, result)) = running.next().await else {
                break None;
            };
            if result.is_ok() {
                succeeded += 1
            } else {
                failed += 1
            }
            let ok = result.is_ok();
            results[i] = Some(result);
            let outcome = match p.wait {
                WaitStrategy::All if succeeded + failed == n => Some(failed == 0),
                WaitStrategy::All => None,
                WaitStrategy::Any => Some(ok),
                WaitStrategy::FirstSuccess if ok => Some(true),
                WaitStrategy::FirstSuccess => (failed == n).then_some(false),
                WaitStrategy::NOfM(k) if succeeded >= k => Some(true),
                WaitStrategy::NOfM(k) => (n - failed < k).then_some(false),
            };
            if outcome.is_some() {
                break outcome;
            }
        };
        drop(running);
        for (i, r) in results.iter().enumerate() {
            if r.is_none() {
                let list = &p.branches[i];
                let cancelled: Vec<NodeState> =
                    list.nodes.iter().map(|_| NodeState::cancelled()).collect();
                ctx.run.record_nested(list, &cancelled);
            }
        }
        let success = decided.unwrap_or(failed == 0);
        let branches: Vec<Value> = results
            .iter()
            .map(|r| match r {
                Some(Ok(v)) => Value::clone(v),
                Some(Err(e)) => json!({"success": false, "error": e.message}),
                None => Value::Null,
            })
            .collect();
        if !success {
            let first = results
                .iter()
                .flatten()
                .find_map(|r| r.as_ref().err())
                .map(|e| e.message.clone())
                .unwrap_or_default();
            return Err(NodeError::tool(
                format!("the wait strategy was not satisfied: {first}"),
                false,
            ));
        }
        let merged = match p.merge {
            None => Value::Null,
            Some(strategy) => merge(
                strategy,
                results.iter().flatten().filter_map(|r| r.as_ref().ok()),
            )?,
        };
        Ok(json!({"branches": branches, "merged": merged}))
    }
}

/// Combines the object outputs of the succeeded branches, in branch order.
fn merge<'a>(
    strategy: MergeStrategy,
    outputs: impl Iterator<Item = &'a Arc<Value>>,
) -> Result<Value, NodeError> {
    let mut merged = Map::new();
    for output in outputs {
        let Value::Object(map) = output.as_ref() else {
            continue;
        };
        for (key, value) in map {
            match strategy {
                MergeStrategy::Error => match merged.get(key) {
                    Some(existing) if existing != value => {
                        return Err(NodeError::tool(
                            format!("branches disagree on `{key}`: {existing} and {value} (set merge_strategy to last_wins or collect)"),
                            false,
                        ))
                    }
                    _ => {
                        merged.insert(key.clone(), value.clone());
                    }
                },
                MergeStrategy::LastWins => {
                    merged.insert(key.clone(), value.clone());
                }
                MergeStrategy::Collect => {
                    let slot = merged.entry(key.clone()).or_insert_with(|| json!([]));
                    if let Value::Array(list) = slot {
                        list.push(value.clone());
                    }
                }
            }
        }
    }
    Ok(Value::Object(merged))
}
