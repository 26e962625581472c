//! Every blueprint in the user guide (`docs/nodes/*.md`) is valid, and the
//! ones that need nothing from outside run and succeed.

use ice_orchestrator::{Runtime, Workflow};
use serde_json::json;
use std::path::Path;

/// The YAML code blocks of a Markdown page.
fn yaml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap_or_default()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// The sub-workflows the pages name, registered under the names they use.
fn runtime() -> Runtime {
    Runtime::builder()
        .workflow("lib/adder.yaml", json!({"inputs": {"b": {"type": "integer"}}, "nodes": [
            {"id": "sum", "type": "tool", "tool_name": "expr", "tool_args": {"expression": "b + 1"}}]}))
        .workflow("refine.yaml", json!({"nodes": [
            {"id": "improve", "type": "tool", "tool_name": "expr", "tool_args": {"expression": "draft.result + 1"}}]}))
        .build()
}

#[tokio::test]
async fn the_guide_blueprints_validate_and_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nodes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Code nodes and the `command` tool belong to the sandbox crate,
        // LLM and agent nodes to the providers' crate, whose tests run
        // those pages.
        if ["code.md", "llm.md", "agent.md"]
            .iter()
            .any(|page| path.ends_with(page))
        {
            continue;
        }
        for block in yaml_blocks(&text) {
            let wf = Workflow::from_str(&block)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .with_runtime(runtime());
            let report = wf.report();
            assert!(report.valid, "{}:\n{report}", path.display());
            checked += 1;
            // Pages whose blueprint calls the network are only validated.
            if block.contains("http_request") {
                continue;
            }
            let result = wf
                .execute(json!({"items": [1, 2], "score": 0.9}))
                .await
                .unwrap();
            assert!(result.success, "{}: {:?}", path.display(), result.error);
        }
    }
    assert!(checked >= 6, "only {checked} blueprints found");
}
