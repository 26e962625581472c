//! `ice graph`: the analysis of a workflow with a recursive cycle, as text
//! and JSON, and invalid documents.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ice"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn graph(args: &[&str], file: &Path) -> Output {
    ice().arg("graph").args(args).arg(file).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `draft` ⇄ `refine` (the back edge written into `draft`'s dependencies,
/// as iceOS documents do), then `publish`; `step.json` beside it.
fn recursive_workflow(dir: &Path) -> PathBuf {
    write(
        dir,
        "step.json",
        r#"[{"id": "step", "type": "tool", "tool_name": "echo", "tool_args": {"ok": true}}]"#,
    );
    let doc = json!([
        {"id": "draft", "type": "tool", "tool_name": "echo", "tool_args": {"x": 1},
         "dependencies": ["refine"]},
        {"id": "refine", "type": "recursive", "dependencies": ["draft"],
         "recursive_sources": ["draft"], "workflow_ref": "step.json",
         "convergence_condition": "iteration >= 2", "max_iterations": 5,
         "metadata": {"estimated_iterations": 2}},
        {"id": "side", "type": "tool", "tool_name": "echo", "tool_args": {"y": 2}},
        {"id": "publish", "type": "tool", "tool_name": "echo", "tool_args": {"z": 3},
         "dependencies": ["refine", "side"]}
    ]);
    write(dir, "loop.json", &doc.to_string())
}

#[test]
fn json_output_counts_the_recursive_cycle_once_per_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let out = graph(&["--json"], &recursive_workflow(dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        a["levels"],
        json!([["draft", "side"], ["refine"], ["publish"]])
    );
    assert_eq!(a["level_widths"], json!([2, 1, 1]));
    assert_eq!(
        a["critical_path"]["nodes"],
        json!(["draft", "refine", "publish"])
    );
    // refine: 1000 + (2 - 1) × (1000 + 100 for draft).
    assert_eq!(a["estimated_ms"]["refine"], 2_100);
    assert_eq!(a["critical_path"]["total_ms"], 100 + 2_100 + 100);
    assert_eq!(a["slack_ms"]["side"], 2_100);
    let cycle = &a["cycles"][0];
    assert_eq!(cycle["node"], "refine");
    assert_eq!(cycle["edges_back"], json!([["refine", "draft"]]));
    assert_eq!(cycle["estimated_iterations"], 2);
    assert_eq!(cycle["worst_case_ms"], 5 * 1_100);
    assert_eq!(a["parallel_groups"], json!([["draft", "side"]]));
}

#[test]
fn text_output_shows_levels_critical_path_cycles_and_slack() {
    let dir = tempfile::tempdir().unwrap();
    let out = graph(&[], &recursive_workflow(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for expected in [
        "0 (width 2): draft, side",
        "critical path: draft -> refine -> publish (2300 ms)",
        "refine <-> draft: 2 iteration(s) estimated, 2200 ms; at most 5, 5500 ms",
        "side: 2100 ms",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn an_invalid_document_prints_its_report_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.json",
        r#"[{"id": "a", "type": "tool", "tool_name": "echo", "dependencies": ["b"]},
            {"id": "b", "type": "tool", "tool_name": "echo", "dependencies": ["a"]}]"#,
    );
    let out = graph(&["--json"], &file);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["code"], "E_CYCLE");
    let out = graph(&[], &file);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E_CYCLE"));
}
