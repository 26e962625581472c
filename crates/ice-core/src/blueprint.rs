//! The blueprint document and the run settings it carries.

use crate::node::{null_default, NodeConfig};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Schema versions ice accepts.
pub const SCHEMA_VERSIONS: [&str; 2] = ["1.1.0", "1.2.0"];

/// The schema version of documents that do not say.
pub const DEFAULT_SCHEMA_VERSION: &str = "1.2.0";

/// What happens after a node fails (SPEC 3.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// No new node starts; running nodes are cancelled.
    #[serde(alias = "HALT")]
    HaltOnFirstError,
    /// Dependents of a failed node are skipped; independent nodes go on.
    #[default]
    #[serde(alias = "CONTINUE_POSSIBLE")]
    ContinueIfPossible,
    /// Dependents of a failed node run and see the failure.
    #[serde(alias = "ALWAYS")]
    AlwaysContinue,
}

/// How ready nodes are released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// A node starts as soon as its dependencies have finished.
    #[default]
    Dataflow,
    /// A level starts when the whole previous level has finished.
    Levels,
}

/// What a run does when a budget is exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBudgetExceeded {
    /// The run stops and fails.
    #[default]
    Abort,
    /// The run stops starting nodes and ends `paused`.
    Pause,
}

/// Settings of a run: given by the document, overridden per run.
///
/// Every field is optional so that per-run options can be laid over the
/// document's with [`RunSettings::overlay`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// Nodes running at once across the run (5); 0 = unbounded.
    pub max_parallel: Option<usize>,
    /// The failure policy.
    pub failure_policy: Option<FailurePolicy>,
    /// Dataflow or strict levels.
    pub execution_mode: Option<ExecutionMode>,
    /// Per-attempt timeout of nodes that set none (300).
    pub default_node_timeout_seconds: Option<f64>,
    /// LLM calls at most.
    pub max_llm_calls: Option<u64>,
    /// Tool executions at most.
    pub max_tool_executions: Option<u64>,
    /// Tokens at most.
    pub token_ceiling: Option<u64>,
    /// Cost at most, in US dollars.
    pub budget_usd: Option<f64>,
    /// Sub-workflow nesting at most.
    pub depth_ceiling: Option<u32>,
    /// Abort or pause when a budget is exceeded.
    pub on_budget_exceeded: Option<OnBudgetExceeded>,
}

impl RunSettings {
    /// The default `max_parallel`, as in iceOS.
    pub const DEFAULT_MAX_PARALLEL: usize = 5;
    /// The default per-attempt timeout.
    pub const DEFAULT_NODE_TIMEOUT_SECONDS: f64 = 300.0;

    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlay(&self, over: &RunSettings) -> RunSettings {
        RunSettings {
            max_parallel: over.max_parallel.or(self.max_parallel),
            failure_policy: over.failure_policy.or(self.failure_policy),
            execution_mode: over.execution_mode.or(self.execution_mode),
            default_node_timeout_seconds: over
                .default_node_timeout_seconds
                .or(self.default_node_timeout_seconds),
            max_llm_calls: over.max_llm_calls.or(self.max_llm_calls),
            max_tool_executions: over.max_tool_executions.or(self.max_tool_executions),
            token_ceiling: over.token_ceiling.or(self.token_ceiling),
            budget_usd: over.budget_usd.or(self.budget_usd),
            depth_ceiling: over.depth_ceiling.or(self.depth_ceiling),
            on_budget_exceeded: over.on_budget_exceeded.or(self.on_budget_exceeded),
        }
    }
}

/// The top-level keys of a blueprint other than its nodes and run settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlueprintHeader {
    /// "1.1.0" or "1.2.0".
    pub schema_version: Option<String>,
    /// Generated as `bp_<8 hex>` when absent.
    pub blueprint_id: Option<String>,
    /// Free-form; `draft_name` names the workflow.
    #[serde(deserialize_with = "null_default")]
    pub metadata: Map<String, Value>,
    /// Overrides the name derived from metadata.
    pub name: Option<String>,
    /// Declared run inputs: a JSON Schema per field.
    #[serde(deserialize_with = "null_default")]
    pub inputs: IndexMap<String, Value>,
    /// Projection of the final result: `{name: template}`.
    #[serde(deserialize_with = "null_default")]
    pub outputs: IndexMap<String, Value>,
}

/// A parsed blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    /// Version, id, metadata, name, declared inputs and outputs.
    pub header: BlueprintHeader,
    /// Run settings given by the document.
    pub settings: RunSettings,
    /// The top-level nodes, in document order.
    pub nodes: Vec<NodeConfig>,
}

impl Blueprint {
    /// A blueprint of these nodes with default settings.
    pub fn from_nodes(nodes: Vec<NodeConfig>) -> Self {
        Blueprint {
            header: BlueprintHeader::default(),
            settings: RunSettings::default(),
            nodes,
        }
    }

    /// The workflow's name: `name`, else `metadata.draft_name`, else the
    /// blueprint id, else "workflow".
    pub fn name(&self) -> String {
        self.header
            .name
            .clone()
            .or_else(|| {
                self.header
                    .metadata
                    .get("draft_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| self.header.blueprint_id.clone())
            .unwrap_or_else(|| "workflow".to_owned())
    }
}
