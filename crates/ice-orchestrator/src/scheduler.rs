//! The dataflow scheduler (SPEC 3.1–3.4): a node becomes ready when its
//! last dependency finishes (a counter per node), ready nodes start in
//! document order up to `max_parallel`, trigger rules and the failure policy
//! decide between running and skipping. No scan of the graph per event; node
//! futures run concurrently on the run's task.

use crate::context::NodeContext;
use crate::error::{ErrorKind, NodeError};
use crate::pipeline::{run_node, NodeOutcome};
use crate::plan::{MappingSource, NodeList, PlanNode};
use crate::run::RunShared;
use crate::runtime::Runtime;
use crate::slots::Slot;
use futures::stream::{FuturesUnordered, StreamExt};
use ice_core::event::EventType;
use ice_core::result::{NodeStatus, SkipReason};
use ice_core::{ExecutionMode, FailurePolicy, OnBudgetExceeded, TriggerRule};
use serde_json::{json, Value};
use smallvec::{smallvec, SmallVec};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::SystemTime;

/// What happened to one node of a list.
#[derive(Debug, Clone)]
pub struct NodeState {
    /// Final (or last) status.
    pub status: NodeStatus,
    /// The output of a node that ran: its result, or `{success: false, error}`.
    pub output: Option<Arc<Value>>,
    /// The error of a failed node.
    pub error: Option<String>,
    /// Why a skipped node was skipped.
    pub skip_reason: Option<SkipReason>,
    /// Attempts made.
    pub attempts: u32,
    /// When the first attempt started.
    pub started_at: Option<SystemTime>,
    /// From the first attempt's start to the end.
    pub duration_ms: Option<f64>,
}

impl NodeState {
    /// A node that never ran, for this reason.
    pub fn skipped(reason: SkipReason) -> Self {
        NodeState {
            status: NodeStatus::Skipped,
            skip_reason: Some(reason),
            ..NodeState::pending()
        }
    }

    /// A node stopped or never started because its list was cancelled.
    pub fn cancelled() -> Self {
        NodeState {
            status: NodeStatus::Cancelled,
            ..NodeState::pending()
        }
    }

    fn pending() -> Self {
        NodeState {
            status: NodeStatus::Pending,
            output: None,
            error: None,
            skip_reason: None,
            attempts: 0,
            started_at: None,
            duration_ms: None,
        }
    }
}

/// Why a list stopped before every node finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A failure under `halt_on_first_error`, or a budget with `abort`.
    Halted,
    /// The run was cancelled.
    Cancelled,
    /// A budget with `pause`.
    Paused,
}

/// The states of a list's nodes, in document order, and why it stopped.
#[derive(Debug)]
pub struct ListOutcome {
    /// Per node.
    pub states: Vec<NodeState>,
    /// Set when the list stopped early.
    pub stop: Option<Stop>,
}

/// Ready nodes, popped in document order; in `levels` mode only the nodes of
/// the current level are released.
struct ReadyQueue {
    levels_mode: bool,
    by_level: SmallVec<[BinaryHeap<Reverse<usize>>; 1]>,
    current: usize,
}

impl ReadyQueue {
    fn new(levels_mode: bool, level_count: usize) -> Self {
        let heaps = if levels_mode { level_count.max(1) } else { 1 };
        ReadyQueue {
            levels_mode,
            by_level: (0..heaps).map(|_| BinaryHeap::new()).collect(),
            current: 0,
        }
    }

    fn push(&mut self, node: usize, level: usize) {
        let slot = if self.levels_mode { level } else { 0 };
        self.by_level[slot].push(Reverse(node));
    }

    /// True when a node can be popped now.
    fn has_ready(&self) -> bool {
        let slot = if self.levels_mode { self.current } else { 0 };
        self.by_level.get(slot).is_some_and(|h| !h.is_empty())
    }

    fn pop(&mut self) -> Option<usize> {
        let slot = if self.levels_mode { self.current } else { 0 };
        self.by_level.get_mut(slot)?.pop().map(|Reverse(i)| i)
    }

    /// Levels mode: the level is done, release the next.
    fn advance_to(&mut self, level: usize) {
        self.current = level;
    }
}

/// Whether a node whose dependencies have all finished runs.
fn decide(
    rule: TriggerRule,
    policy: FailurePolicy,
    deps: &[usize],
    states: &[NodeState],
) -> Result<(), SkipReason> {
    if deps.is_empty() {
        return Ok(());
    }
    let (mut succeeded, mut failed) = (0usize, 0usize);
    let mut skipped: Option<SkipReason> = None;
    for &d in deps {
        match states[d].status {
            NodeStatus::Succeeded => succeeded += 1,
            NodeStatus::Failed => failed += 1,
            NodeStatus::Skipped => {
                let reason = states[d]
                    .skip_reason
                    .unwrap_or(SkipReason::DependencyFailed);
                // A cascade keeps the reason of its origin; a failure wins.
                if skipped != Some(SkipReason::DependencyFailed) {
                    skipped = Some(reason);
                }
            }
            _ => failed += 1,
        }
    }
    let failure_skips = policy != FailurePolicy::AlwaysContinue;
    match rule {
        TriggerRule::AllDone => Ok(()),
        TriggerRule::AllSuccess => {
            if failed > 0 && failure_skips {
                Err(SkipReason::DependencyFailed)
            } else if let Some(reason) = skipped {
                Err(reason)
            } else {
                Ok(())
            }
        }
        TriggerRule::NoneFailed => {
            if failed > 0 && failure_skips {
                Err(SkipReason::DependencyFailed)
            } else if succeeded == 0 && failed == 0 {
                Err(skipped.unwrap_or(SkipReason::DependencyFailed))
            } else {
                Ok(())
            }
        }
        TriggerRule::OneSuccess => {
            if succeeded > 0 {
                Ok(())
            } else if failed > 0 {
                Err(SkipReason::DependencyFailed)
            } else {
                Err(skipped.unwrap_or(SkipReason::DependencyFailed))
            }
        }
    }
}

/// Skips a node named in a condition's path when the condition took the
/// other branch.
fn branch_gate(node: &PlanNode, states: &[NodeState]) -> Result<(), SkipReason> {
    let Some((c, branch)) = node.gate else {
        return Ok(());
    };
    let taken = states[c]
        .output
        .as_ref()
        .filter(|_| states[c].status == NodeStatus::Succeeded)
        .and_then(|o| o.get("result"))
        .and_then(Value::as_bool);
    match taken {
        Some(taken) if taken != branch => Err(SkipReason::BranchNotTaken),
        _ => Ok(()),
    }
}

/// The node's input context from the run inputs, the enclosing scope and
/// its dependencies' outputs.
fn build_context(
    node: &PlanNode,
    list: &NodeList,
    states: &[NodeState],
    inputs: &Arc<Value>,
    scope: &[(Arc<str>, Arc<Value>)],
) -> Result<NodeContext, NodeError> {
    let mut ctx = NodeContext::new(inputs.clone());
    for (k, v) in scope {
        ctx.insert(k.clone(), v.clone());
    }
    for &d in &node.deps {
        if let Some(output) = &states[d].output {
            ctx.insert(list.nodes[d].local_id.clone(), output.clone());
        }
    }
    for (key, source) in &node.mappings {
        let value = match source {
            MappingSource::Literal(v) => v.clone(),
            MappingSource::Node(d, path) => {
                let source_id = &list.nodes[*d].local_id;
                let output = states[*d].output.as_ref().ok_or_else(|| {
                    NodeError::validation(format!(
                        "input mapping `{key}`: node `{source_id}` has no output"
                    ))
                })?;
                if path.is_empty() || path == "." {
                    output.clone()
                } else {
                    let found = ice_core::path::lookup(output, path).ok_or_else(|| {
                        NodeError::validation(format!(
                            "input mapping `{key}`: the output of `{source_id}` has nothing at `{path}`"
                        ))
                    })?;
                    Arc::new(found.clone())
                }
            }
        };
        ctx.map(key.clone(), value);
    }
    if let Some(selection) = &node.selection {
        ctx.select(selection.clone());
    }
    Ok(ctx)
}

/// Counters of a list run, kept inline for small lists (loop bodies run
/// once per item, and need no allocation for them).
type Counters<T> = SmallVec<[T; 8]>;

/// Bookkeeping of one running list.
struct ListRun<'a> {
    list: &'a NodeList,
    run: &'a RunShared,
    states: Vec<NodeState>,
    remaining: Counters<usize>,
    ready: ReadyQueue,
    level_left: Counters<usize>,
    level_started: Counters<bool>,
}

impl<'a> ListRun<'a> {
    fn new(list: &'a NodeList, run: &'a RunShared) -> Self {
        let n = list.nodes.len();
        let levels_mode = run.settings.execution_mode == ExecutionMode::Levels;
        let mut ready = ReadyQueue::new(levels_mode, list.level_count);
        let mut level_left: Counters<usize> = smallvec![0; list.level_count.max(1)];
        let remaining: Counters<usize> = list.nodes.iter().map(|n| n.deps.len()).collect();
        for (i, node) in list.nodes.iter().enumerate() {
            level_left[node.level] += 1;
            if node.deps.is_empty() {
                ready.push(i, node.level);
            }
        }
        ListRun {
            list,
            run,
            states: vec![NodeState::pending(); n],
            remaining,
            ready,
            level_started: smallvec![false; level_left.len()],
            level_left,
        }
    }

    fn mark_level_started(&mut self, level: usize) {
        if !self.level_started[level] {
            self.level_started[level] = true;
            self.run
                .emit(EventType::LevelStarted, None, || json!({"level": level}));
        }
    }

    /// A node reached a final state: release its dependents.
    fn finish(&mut self, i: usize) {
        let level = self.list.nodes[i].level;
        self.level_left[level] -= 1;
        if self.level_left[level] == 0 {
            self.run
                .emit(EventType::LevelCompleted, None, || json!({"level": level}));
            if self.ready.levels_mode {
                let mut next = level + 1;
                while next < self.level_left.len() && self.level_left[next] == 0 {
                    next += 1;
                }
                self.ready.advance_to(next);
            }
        }
        for &d in &self.list.nodes[i].dependents {
            self.remaining[d] -= 1;
            if self.remaining[d] == 0 {
                let node = &self.list.nodes[d];
                self.run.emit(
                    EventType::NodeQueued,
                    Some(&node.id),
                    || json!({"level": node.level}),
                );
                self.ready.push(d, node.level);
            }
        }
    }

    fn skip(&mut self, i: usize, reason: SkipReason) {
        let node = &self.list.nodes[i];
        self.mark_level_started(node.level);
        self.states[i].status = NodeStatus::Skipped;
        self.states[i].skip_reason = Some(reason);
        self.run.emit(
            EventType::NodeSkipped,
            Some(&node.id),
            || json!({"reason": reason}),
        );
        self.finish(i);
    }

    fn record(&mut self, i: usize, outcome: NodeOutcome) -> Option<NodeError> {
        let node = &self.list.nodes[i];
        let state = &mut self.states[i];
        state.attempts = outcome.attempts;
        state.started_at = Some(outcome.started_at);
        let duration_ms = outcome.duration.as_secs_f64() * 1000.0;
        state.duration_ms = Some(duration_ms);
        let failure = match outcome.result {
            Ok(output) => {
                state.status = NodeStatus::Succeeded;
                state.output = Some(output);
                self.run.emit(
                    EventType::NodeCompleted,
                    Some(&node.id),
                    || json!({"duration_ms": duration_ms, "attempts": outcome.attempts}),
                );
                None
            }
            Err(error) => {
                state.status = NodeStatus::Failed;
                state.error = Some(error.message.clone());
                state.output = Some(Arc::new(json!({"success": false, "error": error.message})));
                self.run.emit(EventType::NodeFailed, Some(&node.id), || {
                    json!({"error": error.message, "kind": error.kind, "attempts": outcome.attempts, "duration_ms": duration_ms})
                });
                Some(error)
            }
        };
        self.finish(i);
        failure
    }

    /// Ends every node that has not reached a final state: `cancelled`, or
    /// left `pending` when the run pauses.
    fn close(&mut self, stop: Option<Stop>) {
        let end = if stop == Some(Stop::Paused) {
            NodeStatus::Pending
        } else {
            NodeStatus::Cancelled
        };
        for state in &mut self.states {
            if !state.status.is_final() {
                state.status = if state.status == NodeStatus::Running {
                    NodeStatus::Cancelled
                } else {
                    end
                };
            }
        }
    }
}

/// The next running node to finish: the one running alone, else one of the
/// set; `None` when nothing runs.
fn next_finished<'a, F: Future>(
    mut alone: Pin<&'a mut Option<F>>,
    set: &'a mut Option<FuturesUnordered<F>>,
) -> impl Future<Output = Option<F::Output>> + 'a {
    std::future::poll_fn(move |cx| {
        if let Some(future) = alone.as_mut().as_pin_mut() {
            let output = ready!(future.poll(cx));
            alone.set(None);
            return Poll::Ready(Some(output));
        }
        match set {
            Some(set) if !set.is_empty() => set.poll_next_unpin(cx),
            _ => Poll::Ready(None),
        }
    })
}

/// Runs a node list to the end and returns every node's state.
pub async fn run_list(
    list: &NodeList,
    run: &RunShared,
    runtime: &Runtime,
    inputs: &Arc<Value>,
    scope: &[(Arc<str>, Arc<Value>)],
) -> ListOutcome {
    let mut state = ListRun::new(list, run);
    // The running nodes: a node that nothing else can run beside until it
    // finishes (in a chain, a loop body of one node) runs alone, inline;
    // the others run in a set, made on first use.
    let mut alone = std::pin::pin!(None);
    let mut set: Option<FuturesUnordered<_>> = None;
    let mut stop: Option<Stop> = None;
    let policy = run.settings.failure_policy;
    let cancelled = run.cancel.cancelled();
    tokio::pin!(cancelled);
    // A slot taken but not used yet (a skipped node's, or one freed elsewhere).
    let mut spare: Option<Slot> = None;
    loop {
        let mut blocked = false;
        while stop.is_none() && state.ready.has_ready() {
            let Some(slot) = spare.take().or_else(|| run.slots.try_take()) else {
                blocked = true;
                break;
            };
            let Some(i) = state.ready.pop() else { break };
            let node = &list.nodes[i];
            let decision = branch_gate(node, &state.states).and_then(|()| {
                decide(
                    node.config.common.trigger_rule,
                    policy,
                    &node.deps,
                    &state.states,
                )
            });
            if let Err(reason) = decision {
                state.skip(i, reason);
                spare = Some(slot);
                continue;
            }
            state.mark_level_started(node.level);
            state.states[i].status = NodeStatus::Running;
            let context = build_context(node, list, &state.states, inputs, scope);
            let attempt = async move {
                let outcome = match context {
                    Ok(ctx) => run_node(node, ctx.into_jinja(), runtime, run, &slot).await,
                    Err(error) => NodeOutcome {
                        result: Err(error),
                        attempts: 0,
                        started_at: SystemTime::now(),
                        duration: Default::default(),
                    },
                };
                (i, outcome)
            };
            let set_idle = set.as_ref().is_none_or(FuturesUnordered::is_empty);
            if alone.is_none() && set_idle && !state.ready.has_ready() {
                alone.set(Some(attempt));
            } else {
                set.get_or_insert_with(FuturesUnordered::new).push(attempt);
            }
        }
        let idle = alone.is_none() && set.as_ref().is_none_or(FuturesUnordered::is_empty);
        if idle && !blocked {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut cancelled, if stop != Some(Stop::Paused) => {
                stop = Some(Stop::Cancelled);
                break;
            }
            Some((i, outcome)) = next_finished(alone.as_mut(), &mut set), if !idle => {
                if let Some(error) = state.record(i, outcome) {
                    if error.kind == ErrorKind::Budget {
                        stop = Some(match run.settings.on_budget_exceeded {
                            OnBudgetExceeded::Abort => Stop::Halted,
                            OnBudgetExceeded::Pause => Stop::Paused,
                        });
                    } else if policy == FailurePolicy::HaltOnFirstError {
                        stop = Some(Stop::Halted);
                    }
                    if stop == Some(Stop::Halted) {
                        break;
                    }
                }
            }
            slot = run.slots.take(), if blocked => spare = Some(slot),
        }
    }
    alone.set(None);
    drop(set);
    state.close(stop);
    ListOutcome {
        states: state.states,
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: NodeStatus, reason: Option<SkipReason>) -> NodeState {
        NodeState {
            status,
            skip_reason: reason,
            ..NodeState::pending()
        }
    }

    #[test]
    fn trigger_rules() {
        use NodeStatus::*;
        let states = vec![
            st(Succeeded, None),
            st(Failed, None),
            st(Skipped, Some(SkipReason::BranchNotTaken)),
        ];
        let c = FailurePolicy::ContinueIfPossible;
        assert_eq!(decide(TriggerRule::AllSuccess, c, &[0], &states), Ok(()));
        assert_eq!(
            decide(TriggerRule::AllSuccess, c, &[0, 1], &states),
            Err(SkipReason::DependencyFailed)
        );
        assert_eq!(
            decide(TriggerRule::AllSuccess, c, &[0, 2], &states),
            Err(SkipReason::BranchNotTaken)
        );
        assert_eq!(decide(TriggerRule::NoneFailed, c, &[0, 2], &states), Ok(()));
        assert_eq!(
            decide(TriggerRule::NoneFailed, c, &[2], &states),
            Err(SkipReason::BranchNotTaken)
        );
        assert_eq!(decide(TriggerRule::OneSuccess, c, &[0, 1], &states), Ok(()));
        assert_eq!(
            decide(TriggerRule::OneSuccess, c, &[1], &states),
            Err(SkipReason::DependencyFailed)
        );
        assert_eq!(decide(TriggerRule::AllDone, c, &[1, 2], &states), Ok(()));
        let a = FailurePolicy::AlwaysContinue;
        assert_eq!(decide(TriggerRule::AllSuccess, a, &[0, 1], &states), Ok(()));
        assert_eq!(
            decide(TriggerRule::AllSuccess, a, &[1, 2], &states),
            Err(SkipReason::BranchNotTaken)
        );
    }
}
