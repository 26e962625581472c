//! The run result (SPEC 5.1).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

/// The status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// No top-level node failed.
    Succeeded,
    /// A top-level node failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
    /// The run stopped on a budget with `on_budget_exceeded: pause`.
    Paused,
    /// The run is still going.
    Running,
}

/// The status of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Not started yet.
    Pending,
    /// Running.
    Running,
    /// Waiting for a person or an event.
    Waiting,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Never ran (see the skip reason).
    Skipped,
    /// Never started, or stopped, because the run halted or was cancelled.
    Cancelled,
}

impl NodeStatus {
    /// True once the node will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            NodeStatus::Succeeded
                | NodeStatus::Failed
                | NodeStatus::Skipped
                | NodeStatus::Cancelled
        )
    }
}

/// Why a node was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A dependency failed (or was skipped for that reason).
    DependencyFailed,
    /// The node lies on a branch that was not taken.
    BranchNotTaken,
}

/// Token, cost and call counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// In US dollars.
    pub cost: f64,
    /// LLM calls made.
    pub llm_calls: u64,
    /// Tool calls made.
    pub tool_calls: u64,
}

impl Usage {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.cost += other.cost;
        self.llm_calls += other.llm_calls;
        self.tool_calls += other.tool_calls;
    }
}

/// Serialises a time as RFC 3339 with milliseconds.
pub fn serialize_time<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string()),
        None => s.serialize_none(),
    }
}

fn deserialize_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SystemTime>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| humantime::parse_rfc3339_weak(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Final status.
    pub status: NodeStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Level in its node list.
    pub level: usize,
    /// When the first attempt started.
    #[serde(
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time",
        default
    )]
    pub started_at: Option<SystemTime>,
    /// From the first attempt's start to the end.
    pub duration_ms: Option<f64>,
    /// Served from the cache.
    pub cache_hit: bool,
    /// The error of a failed node.
    pub error: Option<String>,
    /// Why a skipped node was skipped.
    pub skip_reason: Option<SkipReason>,
    /// Tokens and cost of this node.
    pub usage: Option<Usage>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `r_…`
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// True when the status is `succeeded`.
    pub success: bool,
    /// The run's status.
    pub status: RunStatus,
    /// "Node b failed: …" lines joined by newlines.
    pub error: Option<String>,
    /// Per node that ran: its output, or `{success: false, error}`.
    pub output: IndexMap<String, Arc<Value>>,
    /// The blueprint's `outputs` projection, when declared.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outputs: Option<IndexMap<String, Value>>,
    /// Per node: what happened.
    pub nodes: IndexMap<String, NodeReport>,
    /// Totals of the run.
    pub usage: Usage,
    /// From start to end.
    pub duration_ms: f64,
}

/// Serialises a required time as RFC 3339 with milliseconds.
pub fn serialize_time_required<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

/// Reads a required RFC 3339 time.
pub fn deserialize_time_required<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
}
