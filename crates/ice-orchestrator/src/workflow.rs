//! The user-facing workflow: load, validate, execute, start.

use crate::context::NodeContext;
use crate::error::WorkflowError;
use crate::events::EventSink;
use crate::plan::{BuildEnv, Plan};
use crate::run::{new_run_id, Budget, ResolvedSettings, RunHandle, RunOptions, RunShared};
use crate::runtime::Runtime;
use crate::scheduler::{run_list, NodeState, Stop};
use crate::slots::Slots;
use ice_core::analysis::GraphAnalysis;
use ice_core::diagnostic::{Code, Diagnostic, Findings, ValidationReport};
use ice_core::event::EventType;
use ice_core::node::NodeConfig;
use ice_core::parse::{parse_text, Format};
use ice_core::result::{NodeReport, NodeStatus, RunResult, RunStatus, Usage};
use ice_core::validate::{is_simple_schema, simple_type, validate_document};
use ice_core::RunSettings;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// A validated, compiled workflow and the warnings validation gave.
struct Compiled {
    plan: Plan,
    warnings: Vec<Diagnostic>,
}

/// A workflow: a blueprint with the runtime it runs on.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ice_orchestrator::Workflow;
/// use serde_json::json;
///
/// let wf = Workflow::from_str(r#"
/// nodes:
///   - id: greet_user
///     type: tool
///     tool_name: template
///     tool_args: { template: "Hello, {{ name }}!" }
/// "#).unwrap();
/// wf.validate().unwrap();
/// let result = wf.execute(json!({"name": "Alice"})).await.unwrap();
/// assert_eq!(result.output["greet_user"]["text"], "Hello, Alice!");
/// # }
/// ```
pub struct Workflow {
    document: Value,
    source: Option<PathBuf>,
    runtime: Runtime,
    settings: RunSettings,
    name: Option<String>,
    compiled: OnceLock<Result<Arc<Compiled>, ValidationReport>>,
}

impl std::fmt::Debug for Workflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workflow")
            .field("source", &self.source)
            .field("name", &self.name)
            .finish()
    }
}

impl Workflow {
    fn from_document(document: Value, source: Option<PathBuf>) -> Self {
        Workflow {
            document,
            source,
            runtime: Runtime::default(),
            settings: RunSettings::default(),
            name: None,
            compiled: OnceLock::new(),
        }
    }

    /// Loads a blueprint file (JSON or YAML, by extension or content).
    /// Fails when the file cannot be read or is not JSON/YAML; everything
    /// else is reported by [`Workflow::validate`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Workflow, WorkflowError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| WorkflowError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let format = Format::detect(path.to_str(), &text);
        let mut f = Findings::default();
        let document = parse_text(&text, format, &mut f)
            .ok_or_else(|| WorkflowError::Invalid(f.into_report()))?;
        Ok(Workflow::from_document(document, Some(path.to_path_buf())))
    }

    /// Loads a blueprint from text (JSON or YAML, by content).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<Workflow, WorkflowError> {
        let mut f = Findings::default();
        let document = parse_text(text, Format::detect(None, text), &mut f)
            .ok_or_else(|| WorkflowError::Invalid(f.into_report()))?;
        Ok(Workflow::from_document(document, None))
    }

    /// A workflow from a parsed JSON document.
    pub fn from_value(document: Value) -> Workflow {
        Workflow::from_document(document, None)
    }

    /// A workflow of these nodes (iceOS's `Workflow(nodes=[...])`).
    pub fn new(nodes: Vec<NodeConfig>) -> Workflow {
        let document = serde_json::to_value(&nodes).unwrap_or(Value::Array(Vec::new()));
        Workflow::from_document(document, None)
    }

    /// Names the workflow.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Runs on `runtime` instead of the default one.
    pub fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = runtime;
        self.compiled = OnceLock::new();
        self
    }

    /// Run settings laid over the document's for every run.
    pub fn with_settings(mut self, settings: RunSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The file the workflow came from.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn compiled(&self) -> Result<Arc<Compiled>, ValidationReport> {
        self.compiled
            .get_or_init(|| {
                let (blueprint, report) =
                    validate_document(&self.document, &self.runtime, Findings::default());
                let Some(blueprint) = blueprint else {
                    return Err(report);
                };
                let mut f = Findings::default();
                // The document itself heads the include chain, so that a
                // sub-workflow naming it is refused.
                let chain: Vec<String> = self
                    .source
                    .iter()
                    .map(|p| {
                        std::fs::canonicalize(p)
                            .unwrap_or_else(|_| p.clone())
                            .display()
                            .to_string()
                    })
                    .collect();
                let env = BuildEnv {
                    runtime: &self.runtime,
                    base_dir: self.source.as_deref().and_then(Path::parent),
                    chain: &chain,
                };
                match Plan::build(blueprint, "", env, &mut f) {
                    Some(plan) if f.errors.is_empty() => Ok(Arc::new(Compiled {
                        plan,
                        warnings: report.warnings,
                    })),
                    _ => Err(ValidationReport::new(f.errors, report.warnings)),
                }
            })
            .clone()
    }

    /// The number of top-level nodes (0 when the workflow is invalid).
    pub fn node_count(&self) -> usize {
        self.compiled().map_or(0, |c| c.plan.list.nodes.len())
    }

    /// Every problem of the workflow: errors and warnings.
    pub fn report(&self) -> ValidationReport {
        match self.compiled() {
            Ok(c) => ValidationReport::new(Vec::new(), c.warnings.clone()),
            Err(report) => report,
        }
    }

    /// Validates the workflow: `Ok` with the warnings, or every error.
    pub fn validate(&self) -> Result<ValidationReport, WorkflowError> {
        let report = self.report();
        if report.valid {
            Ok(report)
        } else {
            Err(WorkflowError::Invalid(report))
        }
    }

    /// The graph analysis of the top-level node list (SPEC 7): levels,
    /// critical path, slack, parallel groups and recursive cycles. `Err`
    /// with every problem when the workflow is invalid.
    pub fn analyze(&self) -> Result<GraphAnalysis, WorkflowError> {
        let compiled = self.compiled().map_err(WorkflowError::Invalid)?;
        let nodes = compiled.plan.list.nodes.iter().map(|n| &n.config);
        Ok(ice_core::analysis::analyze(nodes))
    }

    /// Runs the workflow to the end. `Err` only when the workflow or the
    /// inputs are invalid; a run whose nodes fail is an `Ok` result with
    /// `success: false`.
    pub async fn execute(&self, inputs: Value) -> Result<RunResult, WorkflowError> {
        self.execute_with(inputs, RunOptions::default()).await
    }

    /// [`Workflow::execute`] with per-run options.
    pub async fn execute_with(
        &self,
        inputs: Value,
        options: RunOptions,
    ) -> Result<RunResult, WorkflowError> {
        let (compiled, inputs, shared) = self.prepare(inputs, &options, None)?;
        let name = self.display_name(&compiled.plan);
        Ok(drive(&compiled.plan, &name, &self.runtime, inputs, &shared).await)
    }

    /// Starts a run in the background: the handle gives its events, cancels
    /// it, and waits for its result. Needs a tokio runtime.
    pub fn start(&self, inputs: Value) -> Result<RunHandle, WorkflowError> {
        self.start_with(inputs, RunOptions::default())
    }

    /// [`Workflow::start`] with per-run options.
    pub fn start_with(
        &self,
        inputs: Value,
        options: RunOptions,
    ) -> Result<RunHandle, WorkflowError> {
        let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
        let (sink, events) = EventSink::channel(&run_id);
        let (compiled, inputs, shared) = self.prepare(
            inputs,
            &RunOptions {
                run_id: Some(run_id.clone()),
                ..options
            },
            Some(sink),
        )?;
        let cancel = CancellationToken::clone(&shared.cancel);
        let runtime = self.runtime.clone();
        let name = self.display_name(&compiled.plan);
        let task =
            tokio::spawn(
                async move { drive(&compiled.plan, &name, &runtime, inputs, &shared).await },
            );
        Ok(RunHandle {
            run_id,
            events: Some(events),
            cancel,
            task,
        })
    }

    /// Validates the workflow and the inputs and sets up a run.
    fn prepare(
        &self,
        inputs: Value,
        options: &RunOptions,
        sink: Option<EventSink>,
    ) -> Result<(Arc<Compiled>, Arc<Value>, RunShared), WorkflowError> {
        let compiled = self.compiled().map_err(WorkflowError::Invalid)?;
        let inputs = prepare_inputs(&compiled.plan, inputs).map_err(WorkflowError::Inputs)?;
        let settings = compiled
            .plan
            .settings
            .overlay(&self.settings)
            .overlay(&options.settings);
        let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
        let resolved = ResolvedSettings::resolve(&settings);
        let shared = RunShared {
            events: Arc::new(sink.unwrap_or_else(|| EventSink::disabled(&run_id))),
            run_id: run_id.into(),
            budget: Arc::new(Budget::new(&settings)),
            depth: 0,
            iteration: None,
            cancel: Arc::new(CancellationToken::new()),
            slots: Slots::new(resolved.max_parallel),
            settings: resolved,
            nested: Default::default(),
        };
        Ok((compiled, inputs, shared))
    }

    /// The workflow's name: given in code, else the document's.
    fn display_name(&self, plan: &Plan) -> String {
        self.name.clone().unwrap_or_else(|| plan.name.clone())
    }
}

/// Checks run inputs against the declared inputs (applying defaults) and
/// against what the templates need.
pub(crate) fn prepare_inputs(plan: &Plan, inputs: Value) -> Result<Arc<Value>, ValidationReport> {
    let mut f = Findings::default();
    let mut map = match inputs {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            f.error(
                Code::InvalidField,
                None,
                "$inputs",
                format!("run inputs must be an object, got {other}"),
            );
            return Err(f.into_report());
        }
    };
    for (name, schema) in &plan.declared_inputs {
        match map.get(name) {
            None => match schema.get("default") {
                Some(default) => {
                    map.insert(name.clone(), default.clone());
                }
                None => f.error(
                    Code::InvalidField,
                    None,
                    format!("$inputs.{name}"),
                    format!("missing required input `{name}`"),
                ),
            },
            Some(value) => {
                if let Some(expected) = declared_type(schema) {
                    if !ice_core::conform::has_type(value, expected) {
                        f.error(
                            Code::InvalidField,
                            None,
                            format!("$inputs.{name}"),
                            format!("input `{name}` must be {expected}, got {value}"),
                        );
                    }
                }
            }
        }
    }
    for node in &plan.list.nodes {
        for need in &node.input_needs {
            if !map.contains_key(need) {
                f.error(
                    Code::TemplateVariable,
                    Some(&node.id),
                    format!("$nodes.{}", node.id),
                    format!("node `{}` reads `{need}`, which no dependency, mapping or run input provides", node.id),
                );
            }
        }
    }
    if f.errors.is_empty() {
        Ok(Arc::new(Value::Object(map)))
    } else {
        Err(f.into_report())
    }
}

/// The JSON type a declared input's schema names (JSON Schema or simple form).
fn declared_type(schema: &Value) -> Option<&str> {
    match schema {
        Value::String(simple) => simple_type(simple),
        other if is_simple_schema(other) => None,
        other => other.get("type").and_then(Value::as_str),
    }
}

/// The result entry of a node.
fn report(state: &NodeState, level: usize) -> NodeReport {
    NodeReport {
        status: state.status,
        attempts: state.attempts,
        level,
        started_at: state.started_at,
        duration_ms: state.duration_ms,
        cache_hit: false,
        error: state.error.clone(),
        skip_reason: state.skip_reason,
        usage: None,
    }
}

/// Runs the plan and assembles the result.
async fn drive(
    plan: &Plan,
    name: &str,
    runtime: &Runtime,
    inputs: Arc<Value>,
    run: &RunShared,
) -> RunResult {
    let clock = Instant::now();
    run.emit(
        EventType::WorkflowStarted,
        None,
        || json!({"workflow": name}),
    );
    let outcome = run_list(&plan.list, run, runtime, &inputs, &[]).await;
    let mut output = IndexMap::with_capacity(plan.list.nodes.len());
    let mut nodes = IndexMap::with_capacity(plan.list.nodes.len());
    let mut errors = Vec::new();
    let mut any_failed = false;
    for (node, state) in plan.list.nodes.iter().zip(&outcome.states) {
        if let Some(out) = &state.output {
            output.insert(node.id.to_string(), out.clone());
        }
        if state.status == NodeStatus::Failed {
            any_failed = true;
            errors.push(format!(
                "Node {} failed: {}",
                node.id,
                state.error.as_deref().unwrap_or("unknown error")
            ));
        }
        nodes.insert(node.id.to_string(), report(state, node.level));
    }
    for record in run.nested.lock().expect("nested records").drain(..) {
        if let Some(out) = &record.state.output {
            output.insert(record.id.to_string(), out.clone());
        }
        nodes.insert(record.id.to_string(), report(&record.state, record.level));
    }
    let outputs = (!plan.outputs.is_empty()).then(|| {
        let mut ctx = NodeContext::new(inputs.clone());
        for (node, state) in plan.list.nodes.iter().zip(&outcome.states) {
            if state.status == NodeStatus::Succeeded {
                if let Some(out) = &state.output {
                    ctx.insert(node.local_id.clone(), out.clone());
                }
            }
        }
        let jinja = ctx.into_jinja();
        let mut projected = IndexMap::new();
        for (name, template) in &plan.outputs {
            match template.render(&jinja) {
                Ok(v) => {
                    projected.insert(name.clone(), v);
                }
                Err(e) => {
                    any_failed = true;
                    errors.push(format!("Output {name} could not be computed: {e}"));
                    projected.insert(name.clone(), Value::Null);
                }
            }
        }
        projected
    });
    let status = match outcome.stop {
        Some(Stop::Cancelled) => {
            errors.push("Run cancelled".into());
            RunStatus::Cancelled
        }
        Some(Stop::Paused) => RunStatus::Paused,
        _ if any_failed => RunStatus::Failed,
        _ => RunStatus::Succeeded,
    };
    let duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
    let final_event = match status {
        RunStatus::Succeeded => EventType::WorkflowCompleted,
        RunStatus::Cancelled => EventType::WorkflowCancelled,
        RunStatus::Paused => EventType::WorkflowPaused,
        _ => EventType::WorkflowFailed,
    };
    run.emit(
        final_event,
        None,
        || json!({"status": status, "duration_ms": duration_ms}),
    );
    RunResult {
        run_id: run.run_id.to_string(),
        workflow: name.to_owned(),
        success: status == RunStatus::Succeeded,
        status,
        error: (!errors.is_empty()).then(|| errors.join("\n")),
        output,
        outputs,
        nodes,
        usage: {
            let spent = run.budget.spent();
            Usage {
                prompt_tokens: spent.prompt_tokens,
                completion_tokens: spent.completion_tokens,
                total_tokens: spent.total_tokens,
                cost: spent.cost,
                llm_calls: run.budget.llm_calls(),
                tool_calls: run.budget.tool_executions(),
            }
        },
        duration_ms,
    }
}
