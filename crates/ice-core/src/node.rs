//! Node configs: the fields every node has and the fields of each of the
//! twelve node types, as iceOS names them.
//!
//! Parsing lives in [`crate::parse`]; these are the typed results.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The builtin node types. Custom types registered by library users are
/// carried as [`NodeKind::Custom`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Calls one tool.
    Tool,
    /// Calls a language model.
    Llm,
    /// Loops a model over tool calls.
    Agent,
    /// Runs sandboxed code.
    Code,
    /// Chooses a branch.
    Condition,
    /// Runs a body per item or until a condition.
    Loop,
    /// Runs branches at once.
    Parallel,
    /// Runs another workflow.
    Workflow,
    /// Repeats its sources until convergence.
    Recursive,
    /// Waits for a person.
    Human,
    /// Watches run metrics.
    Monitor,
    /// Coordinates several agents.
    Swarm,
}

impl NodeType {
    /// Every builtin type, in the order of the specification.
    pub const ALL: [NodeType; 12] = [
        NodeType::Tool,
        NodeType::Llm,
        NodeType::Agent,
        NodeType::Code,
        NodeType::Condition,
        NodeType::Loop,
        NodeType::Parallel,
        NodeType::Workflow,
        NodeType::Recursive,
        NodeType::Human,
        NodeType::Monitor,
        NodeType::Swarm,
    ];

    /// The type name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Tool => "tool",
            NodeType::Llm => "llm",
            NodeType::Agent => "agent",
            NodeType::Code => "code",
            NodeType::Condition => "condition",
            NodeType::Loop => "loop",
            NodeType::Parallel => "parallel",
            NodeType::Workflow => "workflow",
            NodeType::Recursive => "recursive",
            NodeType::Human => "human",
            NodeType::Monitor => "monitor",
            NodeType::Swarm => "swarm",
        }
    }

    /// The builtin type of that name, if any.
    pub fn from_name(name: &str) -> Option<NodeType> {
        NodeType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Deserialises `null` as the type's default (iceOS documents often write
/// `"dependencies": null`).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// How a node decides to run once its dependencies have finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every dependency succeeded.
    #[default]
    AllSuccess,
    /// No dependency failed and at least one succeeded.
    NoneFailed,
    /// At least one dependency succeeded.
    OneSuccess,
    /// Always runs.
    AllDone,
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffStrategy {
    /// The same delay every time.
    Fixed,
    /// base × (n + 1).
    Linear,
    /// base × 2ⁿ.
    #[default]
    Exponential,
}

fn default_max_attempts() -> u32 {
    3
}
fn default_backoff_seconds() -> f64 {
    1.0
}
fn default_max_backoff_seconds() -> f64 {
    60.0
}
fn default_true() -> bool {
    true
}

/// `retry_policy` of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (≥ 1).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How delays grow.
    #[serde(default)]
    pub backoff_strategy: BackoffStrategy,
    /// The base delay.
    #[serde(default = "default_backoff_seconds")]
    pub backoff_seconds: f64,
    /// The cap on one delay.
    #[serde(default = "default_max_backoff_seconds")]
    pub max_backoff_seconds: f64,
    /// Full jitter: each delay is drawn uniformly from [0, delay].
    #[serde(default = "default_true")]
    pub jitter: bool,
    /// Error kinds to retry; `None` = every retryable error.
    #[serde(default)]
    pub retry_on: Option<Vec<String>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: default_max_attempts(),
            backoff_strategy: BackoffStrategy::default(),
            backoff_seconds: default_backoff_seconds(),
            max_backoff_seconds: default_max_backoff_seconds(),
            jitter: true,
            retry_on: None,
        }
    }
}

/// One entry of `input_mappings`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InputMapping {
    /// A value taken from a dependency's output.
    FromNode {
        /// The dependency.
        source_node_id: String,
        /// A dotted path into its output; `""` or `"."` is the whole output.
        source_output_key: String,
    },
    /// Any other value: a literal.
    Literal(Value),
}

impl<'de> Deserialize<'de> for InputMapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        if let Value::Object(map) = &value {
            if let Some(Value::String(source)) = map.get("source_node_id") {
                let key = match map.get("source_output_key") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(k)) => k.clone(),
                    Some(other) => {
                        return Err(serde::de::Error::custom(format!(
                            "source_output_key must be a string, got {other}"
                        )))
                    }
                };
                return Ok(InputMapping::FromNode {
                    source_node_id: source.clone(),
                    source_output_key: key,
                });
            }
        }
        Ok(InputMapping::Literal(value))
    }
}

/// The fields every node has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeCommon {
    /// Unique in the workflow.
    pub id: String,
    /// The type name as written.
    #[serde(rename = "type")]
    pub node_type: String,
    /// Display name; for code and agent nodes also a registry key.
    pub name: Option<String>,
    /// Ids this node waits for.
    #[serde(deserialize_with = "null_default")]
    pub dependencies: Vec<String>,
    /// Per attempt.
    pub timeout_seconds: Option<f64>,
    /// Legacy: number of retries.
    #[serde(deserialize_with = "null_default")]
    pub retries: u32,
    /// Legacy: base delay.
    #[serde(deserialize_with = "null_default")]
    pub backoff_seconds: f64,
    /// The retry policy.
    pub retry_policy: Option<RetryPolicy>,
    /// JSON Schema or simple schema of the input.
    #[serde(deserialize_with = "null_default")]
    pub input_schema: Value,
    /// JSON Schema or simple schema of the output.
    #[serde(deserialize_with = "null_default")]
    pub output_schema: Value,
    /// Placeholders filled from dependencies or literals.
    #[serde(deserialize_with = "null_default")]
    pub input_mappings: IndexMap<String, InputMapping>,
    /// Aliases added to the output: `{alias: dotted.path}`.
    #[serde(deserialize_with = "null_default")]
    pub output_mappings: IndexMap<String, String>,
    /// Enables the result cache for this node.
    pub use_cache: Option<bool>,
    /// Maximum age of a cached result.
    pub cache_ttl_seconds: Option<f64>,
    /// Keep only these keys of the input context.
    pub input_selection: Option<Vec<String>>,
    /// Keep only these keys of the output.
    pub output_selection: Option<Vec<String>>,
    /// Accepted and reported by analysis.
    #[serde(deserialize_with = "null_default")]
    pub context_rules: Map<String, Value>,
    /// Free-form.
    pub metadata: Option<Value>,
    /// Accepted for compatibility.
    pub provider: Option<Value>,
    /// Accepted for compatibility; the level is computed.
    pub level: Option<Value>,
    /// When to run once the dependencies have finished.
    #[serde(deserialize_with = "null_default")]
    pub trigger_rule: TriggerRule,
}

impl NodeCommon {
    /// The retry policy in force: `retry_policy`, else the legacy fields,
    /// else a single attempt.
    pub fn effective_retry(&self) -> RetryPolicy {
        if let Some(policy) = &self.retry_policy {
            return policy.clone();
        }
        RetryPolicy {
            max_attempts: self.retries.saturating_add(1),
            backoff_strategy: BackoffStrategy::Exponential,
            backoff_seconds: self.backoff_seconds,
            max_backoff_seconds: default_max_backoff_seconds(),
            jitter: false,
            retry_on: None,
        }
    }
}

/// A full node config: common fields and the fields of its type.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// The fields every node has.
    pub common: NodeCommon,
    /// The fields of its type.
    pub kind: NodeKind,
}

impl NodeConfig {
    /// The node id.
    pub fn id(&self) -> &str {
        &self.common.id
    }

    /// The type name as written.
    pub fn type_name(&self) -> &str {
        &self.common.node_type
    }

    /// The inline node lists of this node (condition paths, loop body,
    /// parallel branches), each with the field path it came from.
    pub fn inline_lists(&self) -> Vec<(String, Vec<&NodeConfig>)> {
        let inline = PathItem::inline_nodes;
        match &self.kind {
            NodeKind::Condition(c) => vec![
                ("true_path".into(), inline(&c.true_path)),
                ("false_path".into(), inline(&c.false_path)),
            ],
            NodeKind::Loop(l) => vec![("body".into(), l.body.iter().collect())],
            NodeKind::Parallel(p) => p
                .branches
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("branches[{i}]"), b.iter().collect()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The fields of each node type.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `tool`
    Tool(ToolNode),
    /// `llm`
    Llm(LlmNode),
    /// `agent`
    Agent(AgentNode),
    /// `code`
    Code(CodeNode),
    /// `condition`
    Condition(ConditionNode),
    /// `loop`
    Loop(LoopNode),
    /// `parallel`
    Parallel(ParallelNode),
    /// `workflow`
    Workflow(WorkflowNode),
    /// `recursive`
    Recursive(RecursiveNode),
    /// `human`
    Human(HumanNode),
    /// `monitor`
    Monitor(MonitorNode),
    /// `swarm`
    Swarm(SwarmNode),
    /// A type registered by a library user; its extra fields pass through.
    Custom(Map<String, Value>),
}

/// `tool` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolNode {
    /// The registered tool.
    pub tool_name: String,
    /// Arguments, templated.
    #[serde(default, deserialize_with = "null_default")]
    pub tool_args: Map<String, Value>,
}

/// `llm_config` of llm and agent nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// openai | anthropic | google | deepseek | custom | local
    pub provider: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Completion limit.
    pub max_tokens: Option<u64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    pub stop_sequences: Option<Vec<String>>,
    /// API key (redacted in results and events).
    pub api_key: Option<String>,
    /// Base URL of an OpenAI-compatible server.
    pub base_url: Option<String>,
    /// Seconds per request.
    pub timeout: Option<f64>,
    /// Provider-level retries.
    pub max_retries: Option<u32>,
    /// Passed through to the provider.
    pub custom_parameters: Option<Map<String, Value>>,
}

/// `llm` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmNode {
    /// Model name (templated).
    pub model: String,
    /// Prompt (templated).
    pub prompt: String,
    /// Provider settings.
    pub llm_config: Option<LlmConfig>,
    /// Sampling temperature (0.7).
    pub temperature: Option<f64>,
    /// Completion limit.
    pub max_tokens: Option<u64>,
    /// Structured output schema.
    pub json_schema: Option<Value>,
    /// Output format hint.
    pub output_format: Option<String>,
}

/// `agent` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentNode {
    /// A registered agent definition.
    pub package: Option<String>,
    /// Inline system prompt.
    pub system_prompt: Option<String>,
    /// Tool configs or plain tool names.
    #[serde(default, deserialize_with = "null_default")]
    pub tools: Vec<Value>,
    /// MCP servers: stdio commands or HTTP URLs.
    #[serde(default, deserialize_with = "null_default")]
    pub mcp_servers: Vec<Value>,
    /// Model turns at most (10).
    pub max_iterations: Option<u32>,
    /// Provider settings.
    pub llm_config: Option<LlmConfig>,
    /// Conversation memory kept in the store.
    pub memory: Option<Value>,
}

/// `code` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeNode {
    /// `python` (default) or `javascript`.
    pub language: Option<String>,
    /// Inline code.
    pub code: Option<String>,
    /// Allowed extra modules.
    #[serde(default, deserialize_with = "null_default")]
    pub imports: Vec<String>,
    /// Must stay true.
    pub sandbox: Option<bool>,
    /// ice: the interpreter's memory cap in MiB (256 when absent).
    pub memory_limit_mb: Option<u64>,
}

/// An entry of a condition path: an inline node or the id of a top-level node.
#[derive(Debug, Clone, PartialEq)]
pub enum PathItem {
    /// A top-level node gated by the branch.
    Name(String),
    /// An inline node.
    Node(Box<NodeConfig>),
}

impl<'de> Deserialize<'de> for PathItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(name) => Ok(PathItem::Name(name)),
            other => NodeConfig::from_value(&other)
                .map(|n| PathItem::Node(Box::new(n)))
                .map_err(serde::de::Error::custom),
        }
    }
}

impl PathItem {
    /// The inline nodes of a condition path, in order (names of top-level
    /// nodes left out).
    pub fn inline_nodes(items: &[PathItem]) -> Vec<&NodeConfig> {
        items
            .iter()
            .filter_map(|i| match i {
                PathItem::Node(n) => Some(n.as_ref()),
                PathItem::Name(_) => None,
            })
            .collect()
    }
}

impl Serialize for PathItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathItem::Name(name) => s.serialize_str(name),
            PathItem::Node(node) => node.serialize(s),
        }
    }
}

impl Serialize for NodeConfig {
    /// One flat object of common and type fields, without nulls, that
    /// parses back to the same config.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let kind = match &self.kind {
            NodeKind::Tool(k) => serde_json::to_value(k),
            NodeKind::Llm(k) => serde_json::to_value(k),
            NodeKind::Agent(k) => serde_json::to_value(k),
            NodeKind::Code(k) => serde_json::to_value(k),
            NodeKind::Condition(k) => serde_json::to_value(k),
            NodeKind::Loop(k) => serde_json::to_value(k),
            NodeKind::Parallel(k) => serde_json::to_value(k),
            NodeKind::Workflow(k) => serde_json::to_value(k),
            NodeKind::Recursive(k) => serde_json::to_value(k),
            NodeKind::Human(k) => serde_json::to_value(k),
            NodeKind::Monitor(k) => serde_json::to_value(k),
            NodeKind::Swarm(k) => serde_json::to_value(k),
            NodeKind::Custom(m) => Ok(Value::Object(m.clone())),
        }
        .map_err(S::Error::custom)?;
        let mut map = match serde_json::to_value(&self.common).map_err(S::Error::custom)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Value::Object(k) = kind {
            map.extend(k);
        }
        map.retain(|_, v| !v.is_null());
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for NodeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        NodeConfig::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// `condition` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConditionNode {
    /// The expression (section 4.2).
    pub expression: String,
    /// Runs when true.
    #[serde(default, deserialize_with = "null_default")]
    pub true_path: Vec<PathItem>,
    /// Runs when false.
    #[serde(default, deserialize_with = "null_default")]
    pub false_path: Vec<PathItem>,
}

/// `loop` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopNode {
    /// A dotted path or a template yielding a list.
    pub items_source: Option<String>,
    /// Name of the item in the body's context ("item").
    pub item_var: Option<String>,
    /// Name of the index in the body's context ("index").
    pub index_var: Option<String>,
    /// The body.
    #[serde(default, deserialize_with = "null_default")]
    pub body: Vec<NodeConfig>,
    /// Iterations at most.
    pub max_iterations: Option<u64>,
    /// Run iterations at once.
    #[serde(default, deserialize_with = "null_default")]
    pub parallel: bool,
    /// Iterations at once at most.
    pub max_concurrency: Option<u64>,
    /// Stops the loop when true.
    pub until: Option<String>,
    /// Collect per-item errors instead of failing.
    #[serde(default, deserialize_with = "null_default")]
    pub continue_on_item_error: bool,
}

/// `parallel` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParallelNode {
    /// Node lists run at once.
    #[serde(default, deserialize_with = "null_default")]
    pub branches: Vec<Vec<NodeConfig>>,
    /// Branches at once at most.
    pub max_concurrency: Option<u64>,
    /// `all` | `any` | `first_success` | `{n_of_m: k}`.
    pub wait_strategy: Option<Value>,
    /// Merge the branch outputs (true).
    pub merge_outputs: Option<bool>,
    /// `error` | `last_wins` | `collect`.
    pub merge_strategy: Option<String>,
}

/// `workflow` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowNode {
    /// A registered workflow or a blueprint path.
    pub workflow_ref: String,
    /// Merged over the context to form the child's inputs.
    #[serde(default, deserialize_with = "null_default")]
    pub config_overrides: Map<String, Value>,
    /// `{name: dotted.path}` into the child's output.
    #[serde(default, deserialize_with = "null_default")]
    pub exposed_outputs: IndexMap<String, String>,
}

/// `recursive` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecursiveNode {
    /// The nodes that run again each iteration.
    #[serde(default, deserialize_with = "null_default")]
    pub recursive_sources: Vec<String>,
    /// Stops the recursion when true.
    pub convergence_condition: Option<String>,
    /// Iterations at most (50).
    pub max_iterations: Option<u64>,
    /// The agent that runs each iteration.
    pub agent_package: Option<String>,
    /// The workflow that runs each iteration.
    pub workflow_ref: Option<String>,
    /// Keep the history (true).
    pub preserve_context: Option<bool>,
    /// Where the previous result goes ("recursive_context").
    pub context_key: Option<String>,
}

/// `human` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanNode {
    /// Shown to the person.
    pub prompt_message: Option<String>,
    /// `approve_reject` | `input_required` | `choice`.
    pub approval_type: Option<String>,
    /// For `choice`.
    pub choices: Option<Vec<Value>>,
    /// Approve after this many seconds without an answer.
    pub auto_approve_after: Option<f64>,
    /// Who is asked next.
    pub escalation_path: Option<Value>,
    /// Who may answer.
    pub assignees: Option<Vec<String>>,
}

/// `monitor` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorNode {
    /// An expression over run metrics.
    pub metric_expression: String,
    /// Seconds between checks (5).
    pub check_interval_seconds: Option<f64>,
    /// `alert_only` | `pause` | `abort`.
    pub action_on_trigger: Option<String>,
    /// Where alerts go.
    #[serde(default, deserialize_with = "null_default")]
    pub alert_channels: Vec<String>,
}

/// `swarm` node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwarmNode {
    /// At least two `{package, role, config_overrides}`.
    #[serde(default, deserialize_with = "null_default")]
    pub agents: Vec<Value>,
    /// `consensus` | `hierarchical` | `marketplace`.
    pub coordination_strategy: Option<String>,
    /// Rounds at most (10).
    pub max_rounds: Option<u64>,
    /// Share of votes that decides (0.75).
    pub consensus_threshold: Option<f64>,
}
