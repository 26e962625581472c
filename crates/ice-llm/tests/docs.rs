//! The blueprints of `docs/nodes/llm.md` and `docs/nodes/agent.md` are
//! valid and run, against a loopback server that speaks the OpenAI
//! protocol.

use ice_llm::{MockLlm, MockReply, OpenAiCompatible};
use ice_orchestrator::llm::{Endpoint, LlmConnector, LlmProvider};
use ice_orchestrator::{Runtime, Workflow};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Sends every provider's requests to one server, whatever the blueprint
/// names.
struct AllTo(String);

impl LlmConnector for AllTo {
    fn connect(&self, endpoint: &Endpoint) -> Result<Arc<dyn LlmProvider>, String> {
        Ok(Arc::new(OpenAiCompatible::new(
            &self.0,
            None,
            endpoint.timeout,
            0,
        )?))
    }
}

/// The YAML code blocks of a Markdown page.
fn yaml_blocks(text: &str) -> Vec<String> {
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .map(str::to_owned)
        .collect()
}

async fn run_page(page: &str, replies: Vec<MockReply>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/nodes")
        .join(page);
    let text = std::fs::read_to_string(&path).unwrap();
    let blocks = yaml_blocks(&text);
    assert!(!blocks.is_empty(), "{page} has no blueprint");
    for block in blocks {
        let server = MockLlm::start(replies.clone()).await.unwrap();
        let runtime = Runtime::builder()
            .llm_connector(Arc::new(AllTo(server.base_url().to_owned())))
            .build();
        let wf = Workflow::from_str(&block).unwrap().with_runtime(runtime);
        let report = wf.report();
        assert!(report.valid, "{page}:\n{report}");
        let inputs =
            json!({"article": {"text": "A long article."}, "topic": "rivers", "user_id": 7});
        let result = wf.execute(inputs).await.unwrap();
        assert!(
            result.success,
            "{page}: {:?} {:?}",
            result.error, result.nodes
        );
        assert!(!server.requests().is_empty());
    }
}

#[tokio::test]
async fn the_llm_page_runs() {
    run_page(
        "llm.md",
        vec![MockReply::Text("{\"line\": \"Short.\"}".into())],
    )
    .await;
}

#[tokio::test]
async fn the_agent_page_runs() {
    let replies = vec![
        MockReply::ToolCalls(vec![("expr".into(), json!({"expression": "1 + 1"}))]),
        MockReply::Text("Two.".into()),
    ];
    run_page("agent.md", replies).await;
}
