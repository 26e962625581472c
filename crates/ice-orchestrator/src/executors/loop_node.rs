//! `loop` nodes: run the body once per item (in order, or concurrently with
//! results kept in item order), or until a condition holds.

use super::inline;
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::plan::NodeList;
use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use ice_core::node::{NodeConfig, NodeKind};
use ice_core::template::{CompiledExpression, ValueTemplate};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Iterations of a loop with `until` and no items, when it sets no
/// `max_iterations`.
const DEFAULT_UNTIL_ITERATIONS: u64 = 100;

/// Runs `loop` nodes.
pub struct LoopExecutor;

/// Where the items come from.
enum Items {
    /// A dotted path into the context (`inputs.items`, `fetch.json.rows`).
    Path(String),
    /// A template that renders to a list.
    Template(ValueTemplate),
}

struct PreparedLoop {
    /// The loop's id in results and events.
    id: Arc<str>,
    items: Option<Items>,
    until: Option<CompiledExpression>,
    body: NodeList,
    item_var: Arc<str>,
    index_var: Arc<str>,
    max_iterations: Option<u64>,
    concurrency: Option<usize>,
    continue_on_item_error: bool,
}

#[async_trait]
impl NodeExecutor for LoopExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Loop(l) = &node.kind else {
            return Err(format!("node `{}` is not a loop node", node.id()).into());
        };
        let item_var = l.item_var.clone().unwrap_or_else(|| "item".into());
        let index_var = l.index_var.clone().unwrap_or_else(|| "index".into());
        let items = match &l.items_source {
            None => None,
            Some(src) if src.contains('{') => Some(Items::Template(
                ValueTemplate::compile_str(src).map_err(|e| e.message)?,
            )),
            Some(src) => Some(Items::Path(src.clone())),
        };
        let until = l
            .until
            .as_deref()
            .map(CompiledExpression::compile)
            .transpose()
            .map_err(|e| e.message)?;
        let body_nodes: Vec<&NodeConfig> = l.body.iter().collect();
        let body = inline::compile(&body_nodes, node, ctx, &[&item_var, &index_var])?;
        Ok(Some(Arc::new(PreparedLoop {
            id: ctx.id.into(),
            items,
            until,
            body,
            item_var: item_var.into(),
            index_var: index_var.into(),
            max_iterations: l.max_iterations,
            concurrency: l
                .parallel
                .then(|| l.max_concurrency.map_or(usize::MAX, |c| c.max(1) as usize)),
            continue_on_item_error: l.continue_on_item_error,
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let p: &PreparedLoop = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("loop node was not prepared"))?;
        let items = match &p.items {
            Some(source) => Some(resolve_items(source, ctx)?),
            None => None,
        };
        let (results, truncated) = match (items, p.concurrency) {
            (Some(items), Some(concurrency)) if p.until.is_none() => {
                let limit = p
                    .max_iterations
                    .map_or(items.len(), |m| (m as usize).min(items.len()));
                let truncated = limit < items.len();
                let runs = items
                    .into_iter()
                    .take(limit)
                    .enumerate()
                    .map(|(i, item)| iteration(p, ctx, i, Arc::new(item)));
                let outcomes: Vec<_> = stream::iter(runs).buffered(concurrency).collect().await;
                (collect(p, outcomes)?, truncated)
            }
            (items, _) => sequential(p, ctx, items).await?,
        };
        let mut output = Map::with_capacity(3);
        output.insert("count".into(), Value::from(results.len()));
        output.insert("results".into(), Value::Array(results));
        output.insert("truncated".into(), Value::Bool(truncated));
        Ok(Value::Object(output))
    }
}

/// The items of a loop, which must be a list.
fn resolve_items(source: &Items, ctx: &NodeCtx<'_>) -> Result<Vec<Value>, NodeError> {
    let value = match source {
        Items::Template(t) => t.render(ctx.jinja)?,
        Items::Path(path) => {
            let (root, rest) = path.split_once('.').unwrap_or((path, ""));
            let found = ctx.context().get(root).map(|v| v.value().clone());
            found
                .as_ref()
                .and_then(|v| ice_core::path::lookup(v, rest))
                .cloned()
                .ok_or_else(|| {
                    NodeError::validation(format!("items_source `{path}` is not in the context"))
                })?
        }
    };
    match value {
        Value::Array(items) => Ok(items),
        other => Err(NodeError::validation(format!(
            "items_source must give a list, got {other}"
        ))),
    }
}

/// One run of the body: its result (the output of the body's last node in
/// document order) or its failure.
async fn iteration(
    p: &PreparedLoop,
    ctx: &NodeCtx<'_>,
    index: usize,
    item: Arc<Value>,
) -> Result<Arc<Value>, NodeError> {
    let scope = [
        (p.item_var.clone(), item),
        (p.index_var.clone(), Arc::new(json!(index))),
    ];
    let run = ctx.run.for_iteration(&p.id, index);
    let outcome = inline::run(&p.body, ctx, &run, scope).await;
    if let Some(error) = inline::failure(&p.body, &outcome) {
        return Err(NodeError {
            message: format!("iteration {index}: {}", error.message),
            ..error
        });
    }
    Ok(inline::last_output(&outcome).unwrap_or_else(|| Arc::new(Value::Null)))
}

/// Per-iteration results, with failures in place or failing the loop.
fn collect(
    p: &PreparedLoop,
    outcomes: Vec<Result<Arc<Value>, NodeError>>,
) -> Result<Vec<Value>, NodeError> {
    outcomes.into_iter().map(|o| settle(p, o)).collect()
}

/// One iteration's result: its output, its failure in place (with
/// `continue_on_item_error`), or the loop's failure.
fn settle(p: &PreparedLoop, outcome: Result<Arc<Value>, NodeError>) -> Result<Value, NodeError> {
    match outcome {
        // The iteration's run is over: its output is usually ours alone.
        Ok(v) => Ok(Arc::try_unwrap(v).unwrap_or_else(|shared| Value::clone(&shared))),
        Err(e) if p.continue_on_item_error && e.kind != crate::error::ErrorKind::Cancelled => {
            Ok(json!({"success": false, "error": e.message}))
        }
        Err(e) => Err(e),
    }
}

/// Iterations one after the other, checking `until` after each.
async fn sequential(
    p: &PreparedLoop,
    ctx: &NodeCtx<'_>,
    items: Option<Vec<Value>>,
) -> Result<(Vec<Value>, bool), NodeError> {
    let available = items.as_ref().map(Vec::len);
    let limit = match (available, p.max_iterations) {
        (Some(n), Some(m)) => n.min(m as usize),
        (Some(n), None) => n,
        (None, m) => m.unwrap_or(DEFAULT_UNTIL_ITERATIONS) as usize,
    };
    let mut items = items.map(Vec::into_iter);
    let mut results = Vec::with_capacity(limit.min(available.unwrap_or(0)));
    for index in 0..limit {
        let item = Arc::new(
            items
                .as_mut()
                .and_then(Iterator::next)
                .unwrap_or(Value::Null),
        );
        let outcome = iteration(p, ctx, index, item.clone()).await;
        // Kept only for `until`, so that the output is not copied otherwise.
        let result = match (&p.until, &outcome) {
            (Some(_), Ok(v)) => Some(v.clone()),
            _ => None,
        };
        results.push(settle(p, outcome)?);
        if let (Some(until), Some(result)) = (&p.until, result) {
            let mut scope = ctx.context().derived();
            scope.insert(p.item_var.clone(), item);
            scope.insert(p.index_var.clone(), Arc::new(json!(index)));
            scope.insert("result".into(), result);
            if until.eval_bool(&scope.into_jinja())? {
                return Ok((results, false));
            }
        }
    }
    if available.is_none() {
        return Err(NodeError::validation(format!(
            "the loop reached max_iterations ({limit}) before `until` held"
        )));
    }
    Ok((results, available.is_some_and(|n| n > limit)))
}
