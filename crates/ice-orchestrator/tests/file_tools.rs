//! `file_read` and `file_write` stay inside the workspace.

use ice_orchestrator::{Runtime, Workflow};
use serde_json::{json, Value};

fn workflow(dir: &std::path::Path, nodes: Value) -> Workflow {
    Workflow::from_value(nodes).with_runtime(Runtime::builder().workspace(dir).build())
}

#[tokio::test]
async fn write_then_read_inside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let wf = workflow(
        dir.path(),
        json!([
            {"id": "w", "type": "tool", "tool_name": "file_write", "tool_args": {"path": "sub/note.txt", "content": "héllo"}},
            {"id": "r", "type": "tool", "tool_name": "file_read", "dependencies": ["w"], "tool_args": {"path": "{{ w.path }}"}}
        ]),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.output["w"]["bytes"], 6);
    assert_eq!(result.output["r"]["content"], "héllo");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/note.txt")).unwrap(),
        "héllo"
    );
}

async fn refused(dir: &std::path::Path, tool: &str, path: &str) -> String {
    let wf = workflow(
        dir,
        json!([{"id": "x", "type": "tool", "tool_name": tool, "tool_args": {"path": path, "content": "x"}}]),
    );
    let result = wf.execute(json!({})).await.unwrap();
    assert!(!result.success, "{tool} {path} was allowed");
    result.nodes["x"].error.clone().unwrap()
}

#[tokio::test]
async fn paths_outside_the_workspace_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("file_link"),
    )
    .unwrap();

    assert!(refused(dir.path(), "file_read", "/etc/passwd")
        .await
        .contains("absolute"));
    assert!(refused(dir.path(), "file_read", "../secret.txt")
        .await
        .contains(".."));
    assert!(refused(dir.path(), "file_read", "link/secret.txt")
        .await
        .contains("outside"));
    assert!(refused(dir.path(), "file_read", "file_link")
        .await
        .contains("outside"));
    assert!(refused(dir.path(), "file_write", "link/new.txt")
        .await
        .contains("outside"));
    assert!(refused(dir.path(), "file_write", "file_link")
        .await
        .contains("outside"));
    assert!(refused(dir.path(), "file_write", "a/../../x")
        .await
        .contains(".."));
    assert!(!outside.path().join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "secret"
    );
}
