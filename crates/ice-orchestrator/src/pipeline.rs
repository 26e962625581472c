//! Running one node: the layers around its executor, outermost first:
//! retry (with backoff) → timeout → executor, then the output is shaped
//! (`output_mappings`, `output_selection`). Budgets are charged where the
//! spending happens (a tool call, an LLM call).

use crate::error::{ErrorKind, NodeError};
use crate::executor::NodeCtx;
use crate::plan::PlanNode;
use crate::retry::{backoff_delay, should_retry};
use crate::run::RunShared;
use crate::runtime::Runtime;
use crate::slots::Slot;
use ice_core::event::EventType;
use ice_core::node::NodeConfig;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

/// How a node's run ended.
#[derive(Debug)]
pub struct NodeOutcome {
    /// The shaped output, or the last attempt's error.
    pub result: Result<Arc<Value>, NodeError>,
    /// Attempts made.
    pub attempts: u32,
    /// When the first attempt started.
    pub started_at: SystemTime,
    /// From the first attempt's start to the end.
    pub duration: Duration,
}

/// Runs a node with retries and per-attempt timeouts.
pub async fn run_node(
    node: &PlanNode,
    jinja: minijinja::Value,
    runtime: &Runtime,
    run: &RunShared,
    slot: &Slot,
) -> NodeOutcome {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let timeout = node.timeout.unwrap_or(run.settings.default_timeout);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        run.emit(EventType::NodeStarted, Some(&node.id), || {
            json!({"attempt": attempt, "level": node.level, "node_type": node.config.type_name()})
        });
        let ctx = NodeCtx {
            node: &node.config,
            node_id: &node.id,
            jinja: &jinja,
            prepared: &node.prepared,
            runtime,
            run,
            attempt,
            timeout,
            slot,
        };
        let result = match within(timeout, node.executor.execute(&ctx)).await {
            Some(result) => result,
            None => Err(NodeError::new(
                ErrorKind::Timeout,
                format!(
                    "node `{}` timed out after {}",
                    node.id,
                    format_duration(timeout)
                ),
            )),
        };
        match result.and_then(|value| check_output(&node.config, value)) {
            Ok(value) => break Ok(value),
            Err(error)
                if attempt < node.retry.max_attempts && should_retry(&error, &node.retry) =>
            {
                let delay = backoff_delay(&node.retry, attempt - 1);
                run.emit(EventType::NodeRetrying, Some(&node.id), || {
                    json!({"attempt": attempt, "error": error.message, "delay_ms": delay.as_secs_f64() * 1000.0})
                });
                // Boxed, like the timer above: rare, and the node's future
                // stays small.
                Box::pin(tokio::time::sleep(delay)).await;
            }
            Err(error) => break Err(error),
        }
    };
    NodeOutcome {
        result: result.map(|v| Arc::new(shape_output(&node.config, v))),
        attempts: attempt,
        started_at,
        duration: clock.elapsed(),
    }
}

/// `future`'s output, or `None` when it takes longer than `timeout`. The
/// timer is made only when the first poll does not finish the future, as
/// with most trivial nodes, and it is boxed: a timer is large, and every
/// running node's future is moved into the scheduler's set.
async fn within<F: Future>(timeout: Duration, future: F) -> Option<F::Output> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut future = std::pin::pin!(future);
    if let Poll::Ready(output) = futures::poll!(future.as_mut()) {
        return Some(output);
    }
    Box::pin(tokio::time::timeout_at(deadline, future))
        .await
        .ok()
}

/// Checks an output against the node's `output_schema`, if it has one.
fn check_output(node: &NodeConfig, output: Value) -> Result<Value, NodeError> {
    let schema = &node.common.output_schema;
    if schema.as_object().is_none_or(|s| s.is_empty()) {
        return Ok(output);
    }
    match ice_core::conform::conform(&output, schema) {
        Ok(()) => Ok(output),
        Err(e) => Err(NodeError::validation(format!(
            "the output does not match the output_schema: {e}"
        ))),
    }
}

/// Adds `output_mappings` aliases and applies `output_selection`.
pub fn shape_output(node: &NodeConfig, mut output: Value) -> Value {
    let c = &node.common;
    if !c.output_mappings.is_empty() && output.is_object() {
        let aliases: Vec<(String, Value)> = c
            .output_mappings
            .iter()
            .filter_map(|(alias, path)| {
                ice_core::path::lookup(&output, path).map(|v| (alias.clone(), v.clone()))
            })
            .collect();
        if let Value::Object(map) = &mut output {
            map.extend(aliases);
        }
    }
    if let (Some(keys), Value::Object(map)) = (&c.output_selection, &mut output) {
        map.retain(|k, _| keys.contains(k));
    }
    output
}

/// `1s`, `1.5s`, `250ms`.
fn format_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        let secs = d.as_secs_f64();
        if secs.fract() == 0.0 {
            format!("{secs:.0}s")
        } else {
            format!("{secs:.3}s")
        }
    }
}
