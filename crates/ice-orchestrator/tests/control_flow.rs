//! condition, loop and parallel nodes, alone and nested.

use ice_orchestrator::ice_core::result::{NodeStatus, RunResult, SkipReason};
use ice_orchestrator::Workflow;
use serde_json::{json, Value};

async fn run(doc: &str, inputs: Value) -> RunResult {
    Workflow::from_str(doc)
        .unwrap()
        .execute(inputs)
        .await
        .unwrap()
}

const DIAMOND: &str = r#"
nodes:
  - { id: check, type: condition, expression: "n > 1", true_path: [big], false_path: [small] }
  - { id: big, type: tool, tool_name: echo, dependencies: [check], tool_args: { size: big } }
  - { id: small, type: tool, tool_name: echo, dependencies: [check], tool_args: { size: small } }
  - { id: merge, type: tool, tool_name: template, dependencies: [big, small], trigger_rule: none_failed,
      tool_args: { template: "{{ big.size if big is defined else small.size }}" } }
"#;

#[tokio::test]
async fn a_diamond_after_a_condition_runs_the_join_once() {
    for (n, taken, skipped, text) in [(5, "big", "small", "big"), (0, "small", "big", "small")] {
        let result = run(DIAMOND, json!({"n": n})).await;
        assert!(result.success, "{:?}", result.error);
        assert_eq!(result.nodes[taken].status, NodeStatus::Succeeded);
        assert_eq!(result.nodes[skipped].status, NodeStatus::Skipped);
        assert_eq!(
            result.nodes[skipped].skip_reason,
            Some(SkipReason::BranchNotTaken)
        );
        assert_eq!(result.output["merge"]["text"], text);
        assert_eq!(result.nodes["merge"].attempts, 1);
    }
}

#[tokio::test]
async fn a_failing_inline_path_fails_the_condition_and_skips_its_dependents() {
    let doc = r#"
nodes:
  - id: check
    type: condition
    expression: "true"
    true_path: [ { id: boom, type: tool, tool_name: fail, tool_args: { message: inner } } ]
  - { id: after, type: tool, tool_name: echo, dependencies: [check] }
"#;
    let result = run(doc, json!({})).await;
    assert!(!result.success);
    assert_eq!(result.nodes["check.boom"].status, NodeStatus::Failed);
    assert!(result.nodes["check"]
        .error
        .as_deref()
        .unwrap()
        .contains("inner"));
    assert_eq!(
        result.nodes["after"].skip_reason,
        Some(SkipReason::DependencyFailed)
    );
}

#[tokio::test]
async fn loops_keep_item_order_truncate_and_collect_errors() {
    let doc = r#"
nodes:
  - id: par
    type: loop
    items_source: inputs.delays
    parallel: true
    max_concurrency: 3
    body:
      - { id: wait, type: tool, tool_name: sleep, tool_args: { ms: "{{ item }}" } }
      - { id: out, type: tool, tool_name: expr, dependencies: [wait], tool_args: { expression: "index" } }
  - id: cut
    type: loop
    items_source: "{{ inputs.delays }}"
    max_iterations: 2
    body: [ { id: same, type: tool, tool_name: expr, tool_args: { expression: "item" } } ]
  - id: tolerant
    type: loop
    items_source: inputs.divisors
    continue_on_item_error: true
    body: [ { id: div, type: tool, tool_name: expr, tool_args: { expression: "12 // item" } } ]
"#;
    let result = run(doc, json!({"delays": [40, 1, 20, 5], "divisors": [3, 0]})).await;
    assert!(result.success, "{:?}", result.error);
    let indexes: Vec<&Value> = result.output["par"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["result"])
        .collect();
    assert_eq!(indexes, [&json!(0), &json!(1), &json!(2), &json!(3)]);
    assert_eq!(result.output["cut"]["count"], 2);
    assert_eq!(result.output["cut"]["truncated"], true);
    assert_eq!(result.output["tolerant"]["results"][0]["result"], 4);
    assert_eq!(result.output["tolerant"]["results"][1]["success"], false);
}

#[tokio::test]
async fn a_failing_iteration_fails_the_loop_and_until_loops_stop() {
    let doc = r#"
nodes:
  - id: strict
    type: loop
    items_source: inputs.divisors
    body: [ { id: div, type: tool, tool_name: expr, tool_args: { expression: "12 // item" } } ]
  - id: counter
    type: loop
    until: "result.result >= 4"
    body: [ { id: step, type: tool, tool_name: expr, tool_args: { expression: "index * 2" } } ]
  - id: endless
    type: loop
    until: "false"
    max_iterations: 3
    body: [ { id: again, type: tool, tool_name: echo } ]
"#;
    let result = run(doc, json!({"divisors": [3, 0]})).await;
    assert_eq!(result.nodes["strict"].status, NodeStatus::Failed);
    assert!(result.nodes["strict"]
        .error
        .as_deref()
        .unwrap()
        .contains("iteration 1"));
    assert_eq!(result.output["counter"]["count"], 3);
    assert!(result.nodes["endless"]
        .error
        .as_deref()
        .unwrap()
        .contains("max_iterations (3)"));
}

#[tokio::test]
async fn parallel_wait_strategies_and_merges() {
    let doc = r#"
nodes:
  - id: any
    type: parallel
    wait_strategy: any
    branches:
      - [ { id: fast_fail, type: tool, tool_name: fail, tool_args: { message: first } } ]
      - [ { id: slow, type: tool, tool_name: sleep, tool_args: { ms: 5000 } } ]
  - id: two_of_three
    type: parallel
    wait_strategy: { n_of_m: 2 }
    branches:
      - [ { id: a, type: tool, tool_name: echo, tool_args: { a: 1 } } ]
      - [ { id: b, type: tool, tool_name: fail, tool_args: { message: b } } ]
      - [ { id: c, type: tool, tool_name: echo, tool_args: { c: 3 } } ]
  - id: last
    type: parallel
    merge_strategy: last_wins
    branches:
      - [ { id: x1, type: tool, tool_name: echo, tool_args: { k: 1 } } ]
      - [ { id: x2, type: tool, tool_name: echo, tool_args: { k: 2 } } ]
"#;
    let clock = std::time::Instant::now();
    let result = run(doc, json!({})).await;
    assert!(
        clock.elapsed() < std::time::Duration::from_secs(4),
        "the slow branch was cancelled"
    );
    assert_eq!(result.nodes["any"].status, NodeStatus::Failed);
    assert_eq!(result.nodes["any.slow"].status, NodeStatus::Cancelled);
    assert_eq!(result.nodes["two_of_three"].status, NodeStatus::Succeeded);
    assert_eq!(
        result.output["two_of_three"]["merged"],
        json!({"a": 1, "c": 3})
    );
    assert_eq!(result.output["last"]["merged"], json!({"k": 2}));
}

#[tokio::test]
async fn a_loop_inside_a_parallel_branch_inside_a_condition() {
    let doc = r#"
nodes:
  - { id: src, type: tool, tool_name: echo, tool_args: { xs: [1, 2, 3] } }
  - id: gate
    type: condition
    dependencies: [src]
    expression: "src.xs | length > 2"
    true_path:
      - id: fan
        type: parallel
        branches:
          - - id: each
              type: loop
              items_source: src.xs
              body: [ { id: sq, type: tool, tool_name: expr, tool_args: { expression: "item * item" } } ]
          - [ { id: other, type: tool, tool_name: echo, tool_args: { side: true } } ]
"#;
    let result = run(doc, json!({})).await;
    assert!(result.success, "{:?}", result.error);
    let squares: Vec<&Value> = result.output["gate.fan.each"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["result"])
        .collect();
    assert_eq!(squares, [&json!(1), &json!(4), &json!(9)]);
    assert_eq!(result.output["gate.fan"]["merged"]["side"], true);
    assert_eq!(result.nodes["gate.fan.other"].status, NodeStatus::Succeeded);
}

#[tokio::test]
async fn events_of_loop_bodies_carry_the_iteration() {
    let doc = r#"
nodes:
  - id: outer
    type: loop
    items_source: inputs.rows
    body:
      - id: inner
        type: loop
        items_source: item
        body: [ { id: cell, type: tool, tool_name: expr, tool_args: { expression: "item" } } ]
"#;
    let wf = Workflow::from_str(doc).unwrap();
    let mut handle = wf.start(json!({"rows": [[1, 2], [3]]})).unwrap();
    let mut stream = handle.events().unwrap();
    let mut tags = Vec::new();
    while let Some(e) = stream.next_event().await {
        if e.event_type == ice_orchestrator::ice_core::event::EventType::NodeCompleted
            && e.node_id.as_deref() == Some("outer.inner.cell")
        {
            let it = &e.payload["iteration"];
            tags.push((
                it["outer"]["index"].as_u64().unwrap(),
                it["index"].as_u64().unwrap(),
            ));
        }
    }
    let result = handle.result().await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(tags, [(0, 0), (0, 1), (1, 0)]);
}

#[tokio::test]
async fn retries_timeouts_and_cancellation_work_inside_nested_lists() {
    let doc = r#"
nodes:
  - id: fan
    type: parallel
    branches:
      - - id: each
          type: loop
          items_source: inputs.items
          body:
            - { id: flaky, type: tool, tool_name: fail, tool_args: { message: again, retryable: true },
                retry_policy: { max_attempts: 2, backoff_seconds: 0 } }
          continue_on_item_error: true
      - - { id: slow, type: tool, tool_name: sleep, tool_args: { ms: 5000 }, timeout_seconds: 1 }
"#;
    let result = run(doc, json!({"items": [1]})).await;
    assert!(result.output["fan.each"]["results"][0]["error"]
        .as_str()
        .unwrap()
        .contains("again"));
    assert!(result.nodes["fan.slow"]
        .error
        .as_deref()
        .unwrap()
        .contains("timed out after 1s"));

    let wf = Workflow::from_str(
        r#"
nodes:
  - id: outer
    type: loop
    items_source: inputs.items
    body: [ { id: nap, type: tool, tool_name: sleep, tool_args: { ms: 10000 } } ]
"#,
    )
    .unwrap();
    let handle = wf.start(json!({"items": [1, 2, 3]})).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    handle.cancel();
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), handle.result())
        .await
        .expect("cancellation reaches the loop body");
    assert_eq!(
        result.status,
        ice_orchestrator::ice_core::result::RunStatus::Cancelled
    );
    assert_eq!(result.nodes["outer"].status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn max_parallel_bounds_nested_nodes_too_without_deadlock() {
    let doc = r#"
max_parallel: 2
nodes:
  - id: fan
    type: parallel
    branches:
      - [ { id: s1, type: tool, tool_name: sleep, tool_args: { ms: 30 } } ]
      - [ { id: s2, type: tool, tool_name: sleep, tool_args: { ms: 30 } } ]
      - [ { id: s3, type: tool, tool_name: sleep, tool_args: { ms: 30 } } ]
      - [ { id: s4, type: tool, tool_name: sleep, tool_args: { ms: 30 } } ]
  - id: side
    type: loop
    items_source: inputs.items
    parallel: true
    body: [ { id: nap, type: tool, tool_name: sleep, tool_args: { ms: 30 } } ]
"#;
    let wf = Workflow::from_str(doc).unwrap();
    let mut handle = wf.start(json!({"items": [1, 2, 3]})).unwrap();
    let mut stream = handle.events().unwrap();
    let (mut now, mut max) = (0i32, 0i32);
    while let Some(e) = stream.next_event().await {
        let inner = e.node_id.as_deref().is_some_and(|id| id.contains('.'));
        match e.event_type {
            ice_orchestrator::ice_core::event::EventType::NodeStarted if inner => {
                now += 1;
                max = max.max(now);
            }
            ice_orchestrator::ice_core::event::EventType::NodeCompleted if inner => now -= 1,
            _ => {}
        }
    }
    let result = handle.result().await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(max, 2, "at most max_parallel nested nodes at once");

    let nested_at_one = r#"
max_parallel: 1
nodes:
  - id: each
    type: loop
    items_source: inputs.items
    parallel: true
    body:
      - { id: gate, type: condition, expression: "item > 1",
          true_path: [ { id: deep, type: parallel, branches: [ [ { id: leaf, type: tool, tool_name: echo } ] ] } ] }
"#;
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        run(nested_at_one, json!({"items": [1, 2, 3]})),
    )
    .await
    .expect("no deadlock with max_parallel 1");
    assert!(result.success, "{:?}", result.error);
}
