//! `workflow` nodes: references, inputs, outputs, failures, limits.

use ice_orchestrator::ice_core::event::EventType;
use ice_orchestrator::ice_core::result::NodeStatus;
use ice_orchestrator::ice_core::Code;
use ice_orchestrator::{Runtime, Workflow};
use serde_json::json;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const ADDER: &str = r#"
name: adder
inputs: { a: { type: integer }, b: { type: integer, default: 1 } }
nodes:
  - { id: sum, type: tool, tool_name: expr, tool_args: { expression: "a + b" } }
  - { id: twice, type: tool, tool_name: expr, dependencies: [sum], tool_args: { expression: "sum.result * 2" } }
"#;

#[tokio::test]
async fn a_relative_reference_runs_the_child_with_overrides_and_exposed_outputs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/adder.yaml", ADDER);
    let parent = write(
        dir.path(),
        "parent.yaml",
        r#"
nodes:
  - { id: seed, type: tool, tool_name: echo, tool_args: { a: 4 } }
  - id: add
    type: workflow
    dependencies: [seed]
    workflow_ref: lib/adder.yaml
    input_mappings: { a: { source_node_id: seed, source_output_key: a } }
    config_overrides: { b: 10 }
    exposed_outputs: { total: sum.result, doubled: twice.result }
  - { id: whole, type: workflow, workflow_ref: lib/adder.yaml, config_overrides: { a: 1 } }
"#,
    );
    let wf = Workflow::from_file(&parent).unwrap();
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(*result.output["add"], json!({"total": 14, "doubled": 28}));
    assert_eq!(result.output["whole"]["sum"]["result"], 2);
    assert_eq!(result.output["whole"]["twice"]["result"], 4);
}

#[tokio::test]
async fn registered_workflows_resolve_by_name_and_child_events_nest_under_the_node() {
    let runtime = Runtime::builder().workflow("adder", adder_json()).build();
    let wf = Workflow::from_value(json!([{"id": "call", "type": "workflow", "workflow_ref": "adder", "config_overrides": {"a": 2}}]))
        .with_runtime(runtime);
    let mut handle = wf.start(json!({})).unwrap();
    let mut events = handle.events().unwrap();
    let mut ids = Vec::new();
    while let Some(e) = events.next_event().await {
        if e.event_type == EventType::NodeCompleted {
            ids.push(e.node_id.unwrap());
        }
    }
    let result = handle.result().await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(ids, ["call.sum", "call.twice", "call"]);
}

/// The `ADDER` blueprint as a JSON document.
fn adder_json() -> serde_json::Value {
    json!({
        "name": "adder",
        "inputs": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1}},
        "nodes": [
            {"id": "sum", "type": "tool", "tool_name": "expr", "tool_args": {"expression": "a + b"}},
            {"id": "twice", "type": "tool", "tool_name": "expr", "dependencies": ["sum"], "tool_args": {"expression": "sum.result * 2"}}
        ]
    })
}

#[tokio::test]
async fn a_workflow_that_includes_itself_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.yaml",
        "nodes:\n  - { id: again, type: workflow, workflow_ref: b.yaml }\n",
    );
    write(
        dir.path(),
        "b.yaml",
        "nodes:\n  - { id: back, type: workflow, workflow_ref: a.yaml }\n",
    );
    let report = Workflow::from_file(&a).unwrap().report();
    assert!(!report.valid);
    assert!(
        report.errors[0].message.contains("includes itself"),
        "{}",
        report.errors[0].message
    );
    assert!(
        report.errors[0].message.contains("a.yaml ->"),
        "{}",
        report.errors[0].message
    );
}

#[tokio::test]
async fn child_failures_missing_inputs_and_the_depth_ceiling_fail_the_node() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "adder.yaml", ADDER);
    write(
        dir.path(),
        "bad.yaml",
        "nodes:\n  - { id: x, type: tool, tool_name: fail, tool_args: { message: deep } }\n",
    );
    write(
        dir.path(),
        "level2.yaml",
        "nodes:\n  - { id: inner, type: workflow, workflow_ref: bad.yaml }\n",
    );
    let parent = write(
        dir.path(),
        "p.yaml",
        r#"
depth_ceiling: 1
nodes:
  - { id: failing, type: workflow, workflow_ref: bad.yaml }
  - { id: no_inputs, type: workflow, workflow_ref: adder.yaml }
  - { id: too_deep, type: workflow, workflow_ref: level2.yaml }
"#,
    );
    let result = Workflow::from_file(&parent)
        .unwrap()
        .execute(json!({}))
        .await
        .unwrap();
    assert!(result.nodes["failing"]
        .error
        .as_deref()
        .unwrap()
        .contains("Node x failed: deep"));
    assert!(result.nodes["no_inputs"]
        .error
        .as_deref()
        .unwrap()
        .contains("missing required input `a`"));
    assert!(
        result.nodes["too_deep"]
            .error
            .as_deref()
            .unwrap()
            .contains("depth_ceiling"),
        "{:?}",
        result.nodes["too_deep"].error
    );
    assert_eq!(result.nodes["failing"].status, NodeStatus::Failed);
}

#[tokio::test]
async fn an_unknown_reference_is_a_validation_error() {
    let report = Workflow::from_value(json!([
        {"id": "w", "type": "workflow", "workflow_ref": "nowhere.yaml"},
        {"id": "r", "type": "recursive", "workflow_ref": "nowhere.yaml", "recursive_sources": ["w"], "dependencies": ["w"]}
    ]))
    .report();
    assert!(!report.valid);
    let codes: Vec<_> = report
        .errors
        .iter()
        .map(|e| (e.code, e.node.clone()))
        .collect();
    assert_eq!(
        codes,
        [
            (Code::UnknownRef, Some("w".to_string())),
            (Code::UnknownRef, Some("r".to_string()))
        ]
    );
    assert!(report.errors[0].message.contains("nowhere.yaml"));
}

#[tokio::test]
async fn a_recursive_node_repeats_its_sources_and_workflow_until_convergence() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "refine.yaml", "nodes:\n  - { id: improve, type: tool, tool_name: expr, tool_args: { expression: \"draft.result + 1\" } }\n");
    let parent = write(
        dir.path(),
        "main.yaml",
        r#"
nodes:
  - id: draft
    type: tool
    tool_name: expr
    dependencies: [refine]
    tool_args: { expression: "recursive_context.improve.result if recursive_context is defined else 0" }
  - id: refine
    type: recursive
    dependencies: [draft]
    recursive_sources: [draft]
    workflow_ref: refine.yaml
    convergence_condition: "result.improve.result >= 3 and iteration == history | length"
    max_iterations: 10
  - { id: after, type: tool, tool_name: echo, dependencies: [refine],
      tool_args: { final: "{{ refine.result.improve.result }}", n: "{{ refine.iterations }}" } }
  - id: stubborn
    type: recursive
    dependencies: [draft]
    recursive_sources: [draft]
    workflow_ref: refine.yaml
    convergence_condition: "false"
    max_iterations: 2
"#,
    );
    let wf = Workflow::from_file(&parent).unwrap();
    let result = wf.execute(json!({})).await.unwrap();
    assert_eq!(result.nodes["draft"].level, 0);
    assert_eq!(result.nodes["refine"].level, 1);
    assert_eq!(
        result.nodes["refine"].status,
        NodeStatus::Succeeded,
        "{:?}",
        result.nodes["refine"].error
    );
    assert_eq!(*result.output["after"], json!({"final": 3, "n": 3}));
    assert_eq!(result.output["refine"]["converged"], true);
    assert_eq!(
        result.output["refine"]["history"].as_array().unwrap().len(),
        3
    );
    assert!(result.nodes["stubborn"]
        .error
        .as_deref()
        .unwrap()
        .contains("did not converge within max_iterations (2)"));
}
