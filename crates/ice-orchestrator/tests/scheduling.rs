//! Scheduling semantics (SPEC 3): order, bounds, modes, cancellation,
//! budgets, retries, context and events.

use async_trait::async_trait;
use ice_orchestrator::ice_core::event::{Event, EventType};
use ice_orchestrator::ice_core::result::{NodeStatus, RunStatus};
use ice_orchestrator::{
    NodeCtx, NodeError, NodeExecutor, RunOptions, Runtime, Tool, ToolContext, Workflow,
    WorkflowError,
};
use serde_json::{json, Value};

fn sleep(id: &str, ms: u64, deps: &[&str]) -> Value {
    json!({"id": id, "type": "tool", "tool_name": "sleep", "tool_args": {"ms": ms}, "dependencies": deps})
}

fn echo(id: &str, deps: &[&str]) -> Value {
    json!({"id": id, "type": "tool", "tool_name": "echo", "tool_args": {"id": id}, "dependencies": deps})
}

/// Runs with events and returns the result and every event.
async fn run_with_events(
    doc: Value,
    inputs: Value,
) -> (ice_orchestrator::ice_core::result::RunResult, Vec<Event>) {
    let wf = Workflow::from_value(doc);
    let mut handle = wf.start(inputs).unwrap();
    let mut stream = handle.events().unwrap();
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = stream.next_event().await {
            events.push(e);
        }
        events
    });
    let result = handle.result().await;
    (result, collector.await.unwrap())
}

fn node_events(events: &[Event], kind: EventType) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type == kind)
        .filter_map(|e| e.node_id.clone())
        .collect()
}

/// The largest number of nodes running at once, from the events.
fn max_running(events: &[Event]) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for e in events {
        match e.event_type {
            EventType::NodeStarted => {
                now += 1;
                max = max.max(now);
            }
            EventType::NodeCompleted | EventType::NodeFailed => now -= 1,
            _ => {}
        }
    }
    max
}

#[tokio::test]
async fn with_max_parallel_1_ready_nodes_start_in_document_order() {
    let doc = json!({"max_parallel": 1, "nodes": [echo("c", &[]), echo("a", &[]), echo("b", &[]), echo("d", &["a"])]});
    let (result, events) = run_with_events(doc, json!({})).await;
    assert!(result.success);
    assert_eq!(
        node_events(&events, EventType::NodeStarted),
        ["c", "a", "b", "d"]
    );
}

#[tokio::test]
async fn max_parallel_bounds_the_nodes_running_at_once() {
    let nodes: Vec<Value> = (0..8).map(|i| sleep(&format!("s{i}"), 20, &[])).collect();
    let (result, events) =
        run_with_events(json!({"max_parallel": 3, "nodes": nodes}), json!({})).await;
    assert!(result.success);
    assert_eq!(max_running(&events), 3);
}

#[tokio::test]
async fn max_parallel_0_is_unbounded() {
    let nodes: Vec<Value> = (0..50).map(|i| sleep(&format!("s{i}"), 30, &[])).collect();
    let (_, events) = run_with_events(json!({"max_parallel": 0, "nodes": nodes}), json!({})).await;
    assert_eq!(max_running(&events), 50);
}

#[tokio::test]
async fn dataflow_starts_a_node_before_its_level_is_done_and_levels_mode_waits() {
    let nodes = json!([
        sleep("slow", 300, &[]),
        sleep("fast", 1, &[]),
        echo("after_fast", &["fast"])
    ]);
    let position = |events: &[Event], kind, id: &str| {
        events
            .iter()
            .position(|e| e.event_type == kind && e.node_id.as_deref() == Some(id))
            .unwrap()
    };

    let (_, events) = run_with_events(json!({"nodes": nodes.clone()}), json!({})).await;
    assert!(
        position(&events, EventType::NodeStarted, "after_fast")
            < position(&events, EventType::NodeCompleted, "slow")
    );

    let (result, events) = run_with_events(
        json!({"execution_mode": "levels", "nodes": nodes}),
        json!({}),
    )
    .await;
    assert!(result.success);
    assert!(
        position(&events, EventType::NodeStarted, "after_fast")
            > position(&events, EventType::NodeCompleted, "slow")
    );
}

#[tokio::test]
async fn events_are_numbered_in_order_from_workflow_start_to_end() {
    let (result, events) =
        run_with_events(json!([echo("a", &[]), echo("b", &["a"])]), json!({})).await;
    assert!(!events.is_empty());
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        assert_eq!(e.run_id, result.run_id);
    }
    assert_eq!(
        events.first().unwrap().event_type,
        EventType::WorkflowStarted
    );
    assert_eq!(
        events.last().unwrap().event_type,
        EventType::WorkflowCompleted
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for expected in [
        "level.started",
        "node.started",
        "node.completed",
        "level.completed",
        "node.queued",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_a_run_stops_running_nodes_and_cancels_the_rest() {
    let wf = Workflow::from_value(json!([
        sleep("long", 10_000, &[]),
        sleep("later", 10, &["long"]),
        echo("quick", &[])
    ]));
    let handle = wf.start(json!({})).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let clock = std::time::Instant::now();
    handle.cancel();
    let result = handle.result().await;
    assert!(clock.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(result.status, RunStatus::Cancelled);
    assert!(!result.success);
    assert_eq!(result.nodes["long"].status, NodeStatus::Cancelled);
    assert_eq!(result.nodes["later"].status, NodeStatus::Cancelled);
    assert_eq!(result.nodes["quick"].status, NodeStatus::Succeeded);
}

#[tokio::test]
async fn halt_on_first_error_cancels_running_nodes() {
    let doc = json!({"failure_policy": "halt_on_first_error", "max_parallel": 0, "nodes": [
        sleep("long", 10_000, &[]),
        {"id": "bad", "type": "tool", "tool_name": "fail", "tool_args": {"message": "x"}}
    ]});
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.nodes["long"].status, NodeStatus::Cancelled);
    assert_eq!(result.error.as_deref(), Some("Node bad failed: x"));
}

#[tokio::test]
async fn a_tool_budget_fails_the_node_that_crosses_it_and_aborts() {
    let doc = json!({"max_parallel": 1, "max_tool_executions": 2, "nodes": [echo("a", &[]), echo("b", &[]), echo("c", &[]), echo("d", &[])]});
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    assert_eq!(result.nodes["a"].status, NodeStatus::Succeeded);
    assert_eq!(result.nodes["b"].status, NodeStatus::Succeeded);
    assert_eq!(result.nodes["c"].status, NodeStatus::Failed);
    assert!(result.nodes["c"]
        .error
        .as_deref()
        .unwrap()
        .contains("max_tool_executions"));
    assert_eq!(result.nodes["d"].status, NodeStatus::Cancelled);
    assert_eq!(result.status, RunStatus::Failed);
}

#[tokio::test]
async fn a_budget_with_pause_ends_the_run_paused() {
    let doc = json!({"max_parallel": 1, "max_tool_executions": 1, "on_budget_exceeded": "pause", "nodes": [echo("a", &[]), echo("b", &[]), echo("c", &[])]});
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Paused);
    assert_eq!(result.nodes["c"].status, NodeStatus::Pending);
}

#[tokio::test]
async fn retries_back_off_and_emit_retrying_events() {
    let doc = json!([{"id": "f", "type": "tool", "tool_name": "fail", "tool_args": {"message": "flaky", "retryable": true},
        "retry_policy": {"max_attempts": 3, "backoff_strategy": "linear", "backoff_seconds": 0.02, "jitter": false}}]);
    let clock = std::time::Instant::now();
    let (result, events) = run_with_events(doc, json!({})).await;
    assert!(
        clock.elapsed() >= std::time::Duration::from_millis(60),
        "0.02 + 0.04 s of backoff"
    );
    assert_eq!(result.nodes["f"].attempts, 3);
    assert_eq!(node_events(&events, EventType::NodeRetrying).len(), 2);
    assert_eq!(node_events(&events, EventType::NodeStarted).len(), 3);
}

#[tokio::test]
async fn legacy_retries_apply_and_non_retryable_errors_are_not_retried() {
    let doc = json!([
        {"id": "legacy", "type": "tool", "tool_name": "fail", "tool_args": {"message": "x", "retryable": true}, "retries": 2, "backoff_seconds": 0},
        {"id": "final", "type": "tool", "tool_name": "fail", "tool_args": {"message": "x"}, "retries": 5}
    ]);
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    assert_eq!(result.nodes["legacy"].attempts, 3);
    assert_eq!(result.nodes["final"].attempts, 1);
}

#[tokio::test]
async fn timeouts_are_retried_per_attempt() {
    let doc = json!([{"id": "slow", "type": "tool", "tool_name": "sleep", "tool_args": {"ms": 5000}, "timeout_seconds": 1,
        "retry_policy": {"max_attempts": 2, "backoff_seconds": 0}}]);
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    assert_eq!(result.nodes["slow"].attempts, 2);
    assert!(result.nodes["slow"]
        .error
        .as_deref()
        .unwrap()
        .contains("timed out after 1s"));
}

#[tokio::test]
async fn selections_and_mappings_shape_context_and_output() {
    let doc = json!([
        {"id": "src", "type": "tool", "tool_name": "echo", "tool_args": {"a": 1, "b": {"c": [10, 20]}}},
        {"id": "all", "type": "tool", "tool_name": "echo", "dependencies": ["src"], "input_selection": ["src", "lit"],
         "input_mappings": {"lit": 5, "whole": {"source_node_id": "src", "source_output_key": ""}}},
        {"id": "out", "type": "tool", "tool_name": "echo", "dependencies": ["src"],
         "tool_args": {"x": "{{ src.b.c[1] }}", "y": 2}, "output_mappings": {"z": "x"}, "output_selection": ["z", "y"]},
        {"id": "bad", "type": "tool", "tool_name": "echo", "dependencies": ["src"],
         "input_mappings": {"m": {"source_node_id": "src", "source_output_key": "nope.deeper"}}}
    ]);
    let result = Workflow::from_value(doc)
        .execute(json!({"hidden": true}))
        .await
        .unwrap();
    assert_eq!(
        *result.output["all"],
        json!({"src": {"a": 1, "b": {"c": [10, 20]}}, "lit": 5})
    );
    assert_eq!(*result.output["out"], json!({"y": 2, "z": 20}));
    assert!(result.nodes["bad"]
        .error
        .as_deref()
        .unwrap()
        .contains("nothing at `nope.deeper`"));
}

#[tokio::test]
async fn runs_do_not_share_inputs() {
    let wf = Workflow::from_value(json!([
        {"id": "a", "type": "tool", "tool_name": "sleep", "tool_args": {"ms": 20}},
        {"id": "b", "type": "tool", "tool_name": "template", "dependencies": ["a"], "tool_args": {"template": "{{ who }}"}}
    ]));
    let runs = (0..20).map(|i| wf.execute(json!({"who": format!("user{i}")})));
    let results = futures::future::join_all(runs).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().output["b"]["text"], format!("user{i}"));
    }
}

#[tokio::test]
async fn missing_inputs_are_refused_before_any_node_runs() {
    let wf = Workflow::from_value(
        json!({"inputs": {"name": {"type": "string"}, "n": {"type": "integer", "default": 3}},
        "nodes": [{"id": "a", "type": "tool", "tool_name": "template", "tool_args": {"template": "{{ name }} {{ n }}"}}]}),
    );
    let err = wf.execute(json!({})).await.unwrap_err();
    assert!(matches!(err, WorkflowError::Inputs(_)));
    assert!(err.to_string().contains("missing required input `name`"));
    let err = wf.execute(json!({"name": 7})).await.unwrap_err();
    assert!(err.to_string().contains("must be string"));
    let result = wf.execute(json!({"name": "x"})).await.unwrap();
    assert_eq!(result.output["a"]["text"], "x 3");

    let undeclared = Workflow::from_value(
        json!([{"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"v": "{{ ghost }}"}}]),
    );
    let err = undeclared.execute(json!({})).await.unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(
        report.errors[0].code,
        ice_orchestrator::ice_core::Code::TemplateVariable
    );
    assert!(report.errors[0].message.contains("ghost"));
}

#[tokio::test]
async fn per_run_options_override_the_document() {
    let wf = Workflow::from_value(
        json!({"max_parallel": 1, "nodes": [sleep("a", 30, &[]), sleep("b", 30, &[])]}),
    );
    let options = RunOptions {
        settings: ice_orchestrator::ice_core::RunSettings {
            max_parallel: Some(0),
            ..Default::default()
        },
        run_id: Some("r_fixed".into()),
    };
    let mut handle = wf.start_with(json!({}), options).unwrap();
    let mut stream = handle.events().unwrap();
    let mut events = Vec::new();
    while let Some(e) = stream.next_event().await {
        events.push(e);
    }
    let result = handle.result().await;
    assert_eq!(result.run_id, "r_fixed");
    assert_eq!(
        max_running(&events),
        2,
        "the run's max_parallel 0 overrides the document's 1"
    );
}

struct Reverse;

#[async_trait]
impl Tool for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }
    fn description(&self) -> &str {
        "Reverses `text`."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"text": {"type": "string"}}})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        Ok(json!(args["text"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .rev()
            .collect::<String>()))
    }
}

struct Shout;

#[async_trait]
impl NodeExecutor for Shout {
    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let NodeCtx { node, .. } = ctx;
        let ice_orchestrator::ice_core::NodeKind::Custom(fields) = &node.kind else {
            unreachable!()
        };
        let word = ctx
            .context()
            .get("word")
            .map(|v| v.value().clone())
            .unwrap_or_default();
        Ok(
            json!({"text": format!("{}{}", word.as_str().unwrap_or_default().to_uppercase(), fields["suffix"].as_str().unwrap_or_default())}),
        )
    }
}

#[tokio::test]
async fn custom_tools_and_node_types_register_through_the_runtime() {
    let runtime = Runtime::builder()
        .tool(Reverse)
        .executor("shout", Shout)
        .build();
    let wf = Workflow::from_value(json!([
        {"id": "r", "type": "tool", "tool_name": "reverse", "tool_args": {"text": "abc"}},
        {"id": "s", "type": "shout", "suffix": "!", "dependencies": ["r"], "input_mappings": {"word": {"source_node_id": "r", "source_output_key": "result"}}}
    ]))
    .with_runtime(runtime);
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.output["r"]["result"], "cba");
    assert_eq!(result.output["s"]["text"], "CBA!");
    let unregistered = Workflow::from_value(json!([{"id": "s", "type": "shout"}]));
    assert_eq!(
        unregistered.report().errors[0].code,
        ice_orchestrator::ice_core::Code::UnknownNodeType
    );
}

#[tokio::test]
async fn an_empty_tool_args_passes_the_context_filtered_to_the_parameters() {
    let wf = Workflow::from_value(json!([
        {"id": "src", "type": "tool", "tool_name": "echo", "tool_args": {"x": 1}},
        {"id": "t", "type": "tool", "tool_name": "template", "dependencies": ["src"], "input_mappings": {"template": "x={{ src.x }}"}}
    ]));
    let result = wf.execute(json!({"unrelated": true})).await.unwrap();
    assert_eq!(result.output["t"]["text"], "x=1");
}

#[tokio::test]
async fn an_output_that_breaks_the_output_schema_fails_the_node_without_retries() {
    let doc = json!([{
        "id": "e", "type": "tool", "tool_name": "echo", "tool_args": {"n": "three"},
        "output_schema": {"n": "int"},
        "retry_policy": {"max_attempts": 3, "backoff_seconds": 0}
    }]);
    let result = Workflow::from_value(doc).execute(json!({})).await.unwrap();
    let node = &result.nodes["e"];
    assert_eq!(node.status, NodeStatus::Failed);
    assert_eq!(node.attempts, 1);
    assert_eq!(
        node.error.as_deref(),
        Some("the output does not match the output_schema: $.n: expected int, got a string \"three\"")
    );
}
