//! One run: its settings, budgets, cancellation and events, and the handle
//! that the caller holds.

use crate::error::{ErrorKind, NodeError};
use crate::events::{EventSink, EventStream};
use crate::llm::Usage;
use crate::plan::NodeList;
use crate::scheduler::NodeState;
use crate::slots::Slots;
use ice_core::event::EventType;
use ice_core::result::RunResult;
use ice_core::{ExecutionMode, FailurePolicy, OnBudgetExceeded, RunSettings};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Per-run options; each overrides the document's setting of that name.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run settings laid over the document's.
    pub settings: RunSettings,
    /// A run id to use instead of a generated one.
    pub run_id: Option<String>,
}

/// The settings of a run with every default applied.
#[derive(Debug, Clone)]
pub struct ResolvedSettings {
    /// Nodes running at once; `usize::MAX` when unbounded.
    pub max_parallel: usize,
    /// The failure policy.
    pub failure_policy: FailurePolicy,
    /// Dataflow or levels.
    pub execution_mode: ExecutionMode,
    /// Timeout of attempts of nodes that set none.
    pub default_timeout: Duration,
    /// Abort or pause on a budget.
    pub on_budget_exceeded: OnBudgetExceeded,
    /// Sub-workflow nesting at most.
    pub depth_ceiling: u32,
}

impl ResolvedSettings {
    /// Sub-workflow nesting allowed when `depth_ceiling` is not set.
    pub const DEFAULT_DEPTH_CEILING: u32 = 10;

    /// Applies the defaults.
    pub fn resolve(s: &RunSettings) -> Self {
        let max_parallel = s.max_parallel.unwrap_or(RunSettings::DEFAULT_MAX_PARALLEL);
        ResolvedSettings {
            max_parallel: if max_parallel == 0 {
                usize::MAX
            } else {
                max_parallel
            },
            failure_policy: s.failure_policy.unwrap_or_default(),
            execution_mode: s.execution_mode.unwrap_or_default(),
            default_timeout: Duration::from_secs_f64(
                s.default_node_timeout_seconds
                    .unwrap_or(RunSettings::DEFAULT_NODE_TIMEOUT_SECONDS)
                    .max(0.001),
            ),
            on_budget_exceeded: s.on_budget_exceeded.unwrap_or_default(),
            depth_ceiling: s.depth_ceiling.unwrap_or(Self::DEFAULT_DEPTH_CEILING),
        }
    }
}

/// Budgets of a run and what has been spent.
#[derive(Debug, Default)]
pub struct Budget {
    max_tool_executions: Option<u64>,
    max_llm_calls: Option<u64>,
    token_ceiling: Option<u64>,
    budget_usd: Option<f64>,
    tool_executions: AtomicU64,
    llm_calls: AtomicU64,
    spent: Mutex<Usage>,
}

fn exceeded(what: &str, limit: impl std::fmt::Display) -> NodeError {
    NodeError::new(
        ErrorKind::Budget,
        format!("budget exceeded: {what} is {limit}"),
    )
}

impl Budget {
    /// Budgets from the run settings.
    pub fn new(settings: &RunSettings) -> Self {
        Budget {
            max_tool_executions: settings.max_tool_executions,
            max_llm_calls: settings.max_llm_calls,
            token_ceiling: settings.token_ceiling,
            budget_usd: settings.budget_usd,
            ..Budget::default()
        }
    }

    /// Counts one tool execution; fails when that crosses
    /// `max_tool_executions`.
    pub fn charge_tool(&self) -> Result<(), NodeError> {
        let used = self.tool_executions.fetch_add(1, Ordering::Relaxed) + 1;
        match self.max_tool_executions {
            Some(max) if used > max => Err(exceeded("max_tool_executions", max)),
            _ => Ok(()),
        }
    }

    /// Counts one model request, before it is sent; fails when that crosses
    /// `max_llm_calls`, or when tokens or dollars are already spent.
    pub fn charge_llm_call(&self) -> Result<(), NodeError> {
        let used = self.llm_calls.fetch_add(1, Ordering::Relaxed) + 1;
        match self.max_llm_calls {
            Some(max) if used > max => Err(exceeded("max_llm_calls", max)),
            _ => self.check_spent(),
        }
    }

    /// Adds what a model request used; fails when the total crosses
    /// `token_ceiling` or `budget_usd`.
    pub fn charge_usage(&self, usage: Usage) -> Result<(), NodeError> {
        *self.spent.lock().expect("budget") += usage;
        self.check_spent()
    }

    fn check_spent(&self) -> Result<(), NodeError> {
        let spent = self.spent();
        if let Some(max) = self.token_ceiling.filter(|&max| spent.total_tokens > max) {
            return Err(exceeded("token_ceiling", max));
        }
        if let Some(max) = self.budget_usd.filter(|&max| spent.cost > max) {
            return Err(exceeded("budget_usd", max));
        }
        Ok(())
    }

    /// Tool executions so far.
    pub fn tool_executions(&self) -> u64 {
        self.tool_executions.load(Ordering::Relaxed)
    }

    /// Model requests so far.
    pub fn llm_calls(&self) -> u64 {
        self.llm_calls.load(Ordering::Relaxed)
    }

    /// Tokens and dollars spent so far.
    pub fn spent(&self) -> Usage {
        *self.spent.lock().expect("budget")
    }
}

/// The final state of a node of an inline list (`parent.child`), for the
/// run result.
#[derive(Debug, Clone)]
pub struct NestedRecord {
    /// The node's id in results (`parent.child`).
    pub id: Arc<str>,
    /// Its level within its list.
    pub level: usize,
    /// What happened to it.
    pub state: NodeState,
}

/// A loop iteration that a nested run belongs to.
#[derive(Debug)]
pub struct Iteration {
    /// The loop node's id.
    pub loop_id: Arc<str>,
    /// The iteration's index, from 0.
    pub index: usize,
    /// The enclosing iteration of nested loops.
    pub outer: Option<Arc<Iteration>>,
}

impl Iteration {
    /// `{loop, index, outer?}`, as events carry it.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::with_capacity(3);
        map.insert("loop".into(), Value::from(&*self.loop_id));
        map.insert("index".into(), Value::from(self.index));
        if let Some(outer) = &self.outer {
            map.insert("outer".into(), outer.to_json());
        }
        Value::Object(map)
    }
}

/// What every node of a run shares.
#[derive(Debug)]
pub struct RunShared {
    /// The run id.
    pub run_id: Arc<str>,
    /// The run's events (shared with its sub-workflows).
    pub events: Arc<EventSink>,
    /// Budgets and spending (shared with its sub-workflows).
    pub budget: Arc<Budget>,
    /// Cancelled when the run is cancelled (shared: cloning a token itself
    /// takes a lock, and loops derive a run per iteration).
    pub cancel: Arc<CancellationToken>,
    /// `max_parallel` across the run, nested lists included.
    pub slots: Slots,
    /// Settings with defaults applied.
    pub settings: ResolvedSettings,
    /// Sub-workflow nesting: 0 for the run itself.
    pub depth: u32,
    /// For the body of a loop iteration: where it sits, added to the
    /// payload of every event the iteration emits.
    pub iteration: Option<Arc<Iteration>>,
    /// Final states of inline nodes, in the order their lists finished.
    pub nested: Mutex<Vec<NestedRecord>>,
}

impl RunShared {
    /// Emits an event of this run; the payload is built only when someone
    /// listens, and carries the loop iteration it belongs to, if any.
    pub fn emit(
        &self,
        event_type: EventType,
        node_id: Option<&str>,
        payload: impl FnOnce() -> Value,
    ) {
        self.events.emit(event_type, node_id, || {
            let mut payload = payload();
            if let (Some(iteration), Value::Object(map)) = (&self.iteration, &mut payload) {
                map.insert("iteration".into(), iteration.to_json());
            }
            payload
        });
    }

    /// The same run seen from one iteration of a loop: shared events,
    /// budgets and cancellation; its own record of inline nodes.
    pub fn for_iteration(&self, loop_id: &Arc<str>, index: usize) -> RunShared {
        RunShared {
            iteration: Some(Arc::new(Iteration {
                loop_id: loop_id.clone(),
                index,
                outer: self.iteration.clone(),
            })),
            ..self.derived()
        }
    }

    /// The same run for a nested part of it: shared events, budgets, slots
    /// and cancellation, the same settings, a record of inline nodes of
    /// its own.
    pub fn derived(&self) -> RunShared {
        RunShared {
            run_id: self.run_id.clone(),
            events: self.events.clone(),
            budget: self.budget.clone(),
            cancel: self.cancel.clone(),
            slots: self.slots.clone(),
            settings: self.settings.clone(),
            depth: self.depth,
            iteration: self.iteration.clone(),
            nested: Default::default(),
        }
    }

    /// Records the final states of an inline list's nodes.
    pub fn record_nested(&self, list: &NodeList, states: &[NodeState]) {
        let mut nested = self.nested.lock().expect("nested records");
        nested.extend(
            list.nodes
                .iter()
                .zip(states)
                .map(|(node, state)| NestedRecord {
                    id: node.id.clone(),
                    level: node.level,
                    state: state.clone(),
                }),
        );
    }
}

/// A new run id: `r_` and 12 hex digits.
pub fn new_run_id() -> String {
    format!("r_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A run in progress: its events, a way to cancel it, and its result.
pub struct RunHandle {
    pub(crate) run_id: String,
    pub(crate) events: Option<EventStream>,
    pub(crate) cancel: CancellationToken,
    pub(crate) task: JoinHandle<RunResult>,
}

impl RunHandle {
    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's events, from the first (`seq` 1). Only the first call gets
    /// the stream.
    pub fn events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// Cancels the run: running nodes stop, the rest end `cancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// A token that cancels the run when cancelled.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for the result.
    pub async fn result(self) -> RunResult {
        match self.task.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
