//! `llm` nodes, `agent` nodes and recursive agents against a real HTTP
//! server on loopback that speaks the OpenAI chat completions protocol.

use ice_llm::{HttpConnector, MockLlm, MockReply};
use ice_orchestrator::ice_core::diagnostic::Code;
use ice_orchestrator::ice_core::event::EventType;
use ice_orchestrator::ice_core::result::NodeStatus;
use ice_orchestrator::{AgentDefinition, Runtime, Workflow};
use serde_json::{json, Value};
use std::sync::Arc;

fn runtime() -> ice_orchestrator::RuntimeBuilder {
    Runtime::builder().llm_connector(Arc::new(HttpConnector))
}

/// A blueprint whose `llm_config`s point at the server.
fn workflow(doc: &str, server: &MockLlm, runtime: Runtime) -> Workflow {
    Workflow::from_str(&doc.replace("BASE_URL", server.base_url()))
        .unwrap()
        .with_runtime(runtime)
}

fn tool_call(name: &str, args: Value) -> MockReply {
    MockReply::ToolCalls(vec![(name.to_owned(), args)])
}

#[tokio::test]
async fn an_llm_node_sends_its_prompt_and_streams_the_answer() {
    let server = MockLlm::start(vec![MockReply::Text("Hello there, Ada".into())])
        .await
        .unwrap();
    let wf = workflow(
        r#"
inputs: { name: { type: string } }
nodes:
  - id: greet
    type: llm
    model: gpt-4o-mini
    prompt: "Say hello to {{ name }}"
    max_tokens: 20
    llm_config: { provider: custom, base_url: BASE_URL }
"#,
        &server,
        runtime().build(),
    );
    let mut handle = wf.start(json!({"name": "Ada"})).unwrap();
    let mut events = handle.events().unwrap();
    let (mut tokens, mut token_updates) = (String::new(), 0);
    while let Some(e) = events.next_event().await {
        match e.event_type {
            EventType::NodeProgress => tokens.push_str(e.payload["token"].as_str().unwrap()),
            EventType::TokenUpdate => token_updates += 1,
            _ => {}
        }
    }
    let result = handle.result().await;
    assert!(result.success, "{:?}", result.error);
    let out = &result.output["greet"];
    assert_eq!(out["text"], "Hello there, Ada");
    assert_eq!(out["response"], out["text"]);
    assert_eq!(out["prompt"], "Say hello to Ada");
    assert_eq!(out["model"], "gpt-4o-mini");
    assert!(out["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(
        out["usage"]["cost"].as_f64().unwrap() > 0.0,
        "gpt-4o-mini has a price"
    );
    assert_eq!(tokens, "Hello there, Ada");
    assert_eq!(token_updates, 1);
    let sent = &server.requests()[0];
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Say hello to Ada"}])
    );
    assert_eq!(
        (sent["temperature"].clone(), sent["max_tokens"].clone()),
        (json!(0.7), json!(20))
    );
}

#[tokio::test]
async fn structured_output_is_parsed_and_a_wrong_answer_is_retried() {
    let server = MockLlm::start(vec![
        MockReply::Text("{\"score\": \"high\"}".into()),
        MockReply::Status(503, "overloaded".into()),
        MockReply::Text("{\"score\": 9}".into()),
    ])
    .await
    .unwrap();
    let wf = workflow(
        r#"
nodes:
  - id: rate
    type: llm
    model: m
    prompt: "Rate it"
    json_schema: { type: object, properties: { score: { type: integer } }, required: [score] }
    retry_policy: { max_attempts: 3, backoff_seconds: 0.01 }
    llm_config: { provider: custom, base_url: BASE_URL }
"#,
        &server,
        runtime().build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.output["rate"]["json"], json!({"score": 9}));
    assert_eq!(result.nodes["rate"].attempts, 3);
    assert_eq!(
        server.requests()[0]["response_format"]["json_schema"]["schema"]["required"],
        json!(["score"])
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_names_the_status() {
    let server = MockLlm::start(vec![MockReply::Status(401, "bad key".into())])
        .await
        .unwrap();
    let wf = workflow(
        r#"
nodes:
  - { id: ask, type: llm, model: m, prompt: hi, retry_policy: { max_attempts: 3, backoff_seconds: 0.01 },
      llm_config: { provider: custom, base_url: BASE_URL } }
"#,
        &server,
        runtime().build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    let node = &result.nodes["ask"];
    assert_eq!((node.status, node.attempts), (NodeStatus::Failed, 1));
    let error = node.error.as_deref().unwrap();
    assert!(
        error.contains("401") && error.contains("bad key"),
        "{error}"
    );
}

#[tokio::test]
async fn an_agent_calls_its_tools_and_feeds_the_results_back() {
    let server = MockLlm::start(vec![
        MockReply::ToolCalls(vec![
            ("expr".into(), json!({"expression": "6 * 7"})),
            ("file_write".into(), json!({"path": "x", "content": "no"})),
        ]),
        MockReply::Text("The answer is 42".into()),
    ])
    .await
    .unwrap();
    let wf = workflow(
        r#"
nodes:
  - id: solver
    type: agent
    system_prompt: "You solve {{ task }}."
    tools: [expr, { name: echo, description: "Repeats its arguments" }]
    llm_config: { provider: custom, base_url: BASE_URL, model: m }
"#,
        &server,
        runtime().build(),
    );
    let mut handle = wf.start(json!({"task": "sums"})).unwrap();
    let mut events = handle.events().unwrap();
    let mut called = Vec::new();
    while let Some(e) = events.next_event().await {
        if let Some(call) = e.payload.get("tool_call") {
            called.push(call["name"].as_str().unwrap().to_owned());
        }
    }
    let result = handle.result().await;
    assert!(result.success, "{:?}", result.error);
    let out = &result.output["solver"];
    assert_eq!(out["text"], "The answer is 42");
    assert_eq!(out["iterations"], 2);
    assert_eq!(out["tool_calls"][0]["name"], "expr");
    assert_eq!(out["tool_calls"][0]["result"], json!({"result": 42}));
    // A tool the agent does not list is refused, and the model is told so.
    assert_eq!(out["tool_calls"][1]["result"], Value::Null);
    assert!(out["tool_calls"][1]["error"]
        .as_str()
        .unwrap()
        .contains("not one of this agent's tools"));
    assert_eq!(called, ["expr", "file_write"]);

    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "You solve sums."})
    );
    assert_eq!(first["messages"][1]["role"], "user");
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["expr", "echo"]);
    assert_eq!(
        first["tools"][1]["function"]["description"],
        "Repeats its arguments"
    );
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second[2]["tool_calls"][0]["function"]["name"], "expr");
    assert_eq!(
        second[3],
        json!({"role": "tool", "content": "{\"result\":42}", "tool_call_id": "call_0"})
    );
    assert!(second[4]["content"]
        .as_str()
        .unwrap()
        .contains("not one of this agent's tools"));
}

#[tokio::test]
async fn an_agent_that_never_answers_fails_at_max_iterations() {
    let server = MockLlm::start((0..3).map(|_| tool_call("echo", json!({"x": 1}))).collect())
        .await
        .unwrap();
    let wf = workflow(
        r#"
nodes:
  - { id: busy, type: agent, tools: [echo], max_iterations: 3, llm_config: { provider: custom, base_url: BASE_URL, model: m } }
"#,
        &server,
        runtime().build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    let error = result.nodes["busy"].error.as_deref().unwrap();
    assert!(error.contains("max_iterations (3)"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn packages_are_registered_and_unknown_ones_are_reported() {
    let server = MockLlm::start(vec![]).await.unwrap();
    let package = AgentDefinition {
        system_prompt: Some("Be brief.".into()),
        llm_config: Some(
            serde_json::from_value(
                json!({"provider": "custom", "base_url": server.base_url(), "model": "m"}),
            )
            .unwrap(),
        ),
        ..AgentDefinition::default()
    };
    let rt = runtime().agent("brief", package).build();
    let wf = workflow(
        "nodes:\n  - { id: a, type: agent, package: brief }\n",
        &server,
        rt.clone(),
    );
    let result = wf.execute(json!({"q": "why"})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.output["a"]["text"], "echo: {\"q\":\"why\"}");
    assert_eq!(server.requests()[0]["messages"][0]["content"], "Be brief.");

    let report = workflow(
        "nodes:\n  - { id: a, type: agent, package: nobody }\n  - { id: b, type: agent, tools: [nothing], llm_config: { model: m } }\n",
        &server,
        rt,
    )
    .report();
    let codes: Vec<_> = report
        .errors
        .iter()
        .map(|e| (e.code, e.node.clone().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (Code::UnknownRef, "a".into()),
            (Code::UnknownRef, "b".into())
        ]
    );
    assert!(report.errors[0].message.contains("nobody"));
    assert!(
        report.errors[1].message.contains("tools[0]"),
        "{}",
        report.errors[1].message
    );
}

#[tokio::test]
async fn a_recursive_node_runs_its_agent_until_convergence() {
    let server = MockLlm::start(vec![
        MockReply::Text("draft one".into()),
        MockReply::Text("draft two".into()),
        MockReply::Text("final".into()),
    ])
    .await
    .unwrap();
    let critic = AgentDefinition {
        system_prompt: Some("Improve the draft.".into()),
        llm_config: Some(
            serde_json::from_value(
                json!({"provider": "custom", "base_url": server.base_url(), "model": "m"}),
            )
            .unwrap(),
        ),
        ..AgentDefinition::default()
    };
    let wf = workflow(
        r#"
nodes:
  - id: draft
    type: tool
    tool_name: echo
    dependencies: [refine]
    tool_args: { previous: "{{ recursive_context.text if recursive_context is defined else 'none' }}" }
  - id: refine
    type: recursive
    dependencies: [draft]
    recursive_sources: [draft]
    agent_package: critic
    convergence_condition: "result.text == 'final'"
  - { id: publish, type: tool, tool_name: echo, dependencies: [refine], tool_args: { text: "{{ refine.result.text }}" } }
"#,
        &server,
        runtime().agent("critic", critic).build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    let refine = &result.output["refine"];
    assert_eq!(
        (refine["iterations"].clone(), refine["converged"].clone()),
        (json!(3), json!(true))
    );
    assert_eq!(refine["history"].as_array().unwrap().len(), 3);
    assert_eq!(result.output["publish"]["text"], "final");
    // Each question carries the sources' latest output and the previous answer.
    let questions: Vec<Value> = server
        .requests()
        .iter()
        .map(|r| serde_json::from_str(r["messages"][1]["content"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(questions[0]["draft"]["previous"], "none");
    assert_eq!(questions[1]["draft"]["previous"], "draft one");
    assert_eq!(questions[2]["recursive_context"]["text"], "draft two");
}

#[tokio::test]
async fn budgets_stop_model_calls() {
    let server = MockLlm::start(vec![]).await.unwrap();
    let wf = workflow(
        r#"
max_llm_calls: 1
nodes:
  - { id: one, type: llm, model: m, prompt: a, llm_config: { provider: custom, base_url: BASE_URL } }
  - { id: two, type: llm, model: m, prompt: b, dependencies: [one], llm_config: { provider: custom, base_url: BASE_URL } }
"#,
        &server,
        runtime().build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert_eq!(result.nodes["one"].status, NodeStatus::Succeeded);
    let error = result.nodes["two"].error.as_deref().unwrap();
    assert!(error.contains("max_llm_calls"), "{error}");
    assert_eq!(server.requests().len(), 1);

    let wf = workflow(
        r#"
token_ceiling: 1
nodes:
  - { id: one, type: llm, model: m, prompt: a, llm_config: { provider: custom, base_url: BASE_URL } }
"#,
        &server,
        runtime().build(),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.nodes["one"]
        .error
        .as_deref()
        .unwrap()
        .contains("token_ceiling"));
}

#[tokio::test]
async fn agent_memory_carries_the_conversation_across_runs() {
    let server = MockLlm::start(vec![MockReply::Text("noted".into())])
        .await
        .unwrap();
    let wf = workflow(
        r#"
nodes:
  - { id: chat, type: agent, memory: { key: user-1, max_messages: 10 }, llm_config: { provider: custom, base_url: BASE_URL, model: m } }
"#,
        &server,
        runtime().build(),
    );
    wf.execute(json!({"say": "my name is Ada"})).await.unwrap();
    let result = wf
        .execute(json!({"say": "what is my name?"}))
        .await
        .unwrap();
    assert!(result.success, "{:?}", result.error);
    let second = server.requests()[1]["messages"].clone();
    assert_eq!(second.as_array().unwrap().len(), 3);
    assert_eq!(second[1], json!({"role": "assistant", "content": "noted"}));
}

#[tokio::test]
async fn without_a_connector_llm_nodes_say_what_is_missing() {
    let wf =
        Workflow::from_str("nodes:\n  - { id: ask, type: llm, model: m, prompt: hi }\n").unwrap();
    let result = wf.execute(json!({})).await.unwrap();
    let error = result.nodes["ask"].error.as_deref().unwrap();
    assert!(error.contains("no LLM providers"), "{error}");
}
