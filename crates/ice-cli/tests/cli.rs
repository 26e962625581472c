//! The `ice` binary as a user drives it: exit codes, output formats, bad
//! input, Ctrl-C.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ice() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ice"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str], file: &Path) -> Output {
    ice().args(args).arg(file).output().unwrap()
}

fn exit_code(command: &mut Command) -> Option<i32> {
    command.output().unwrap().status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_quickstart_runs() {
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.yaml");
    let out = ice()
        .args(["run", "--json", "--input", "topic=agents"])
        .arg(&quickstart)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["outputs"]["report"],
        "About Agents: 30 words in 5 sentences, split into 3 chunks."
    );
    let out = ice().arg("run").arg(&quickstart).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("workflow `quickstart` succeeded"), "{text}");
}

#[test]
fn exit_codes_say_success_failure_and_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(
        dir.path(),
        "ok.json",
        r#"[{"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"x": 1}}]"#,
    );
    let failing = write(
        dir.path(),
        "fail.yaml",
        "nodes:\n  - {id: a, type: tool, tool_name: fail, tool_args: {message: no}}\n",
    );
    let invalid = write(
        dir.path(),
        "bad.json",
        r#"[{"id": "a", "type": "tool", "tool_name": "nope"}]"#,
    );
    assert_eq!(run(&["run"], &ok).status.code(), Some(0));
    assert_eq!(run(&["run"], &failing).status.code(), Some(1));
    let out = run(&["run"], &invalid);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("E_UNKNOWN_TOOL"), "{}", stderr(&out));
    assert_eq!(
        run(&["run"], &dir.path().join("absent.json")).status.code(),
        Some(2)
    );
    let out = ice()
        .args(["run", "--input", "novalue"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        exit_code(ice().args(["run", "--bogus-flag"]).arg(&ok)),
        Some(2)
    );
}

#[test]
fn validate_prints_every_problem_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "v.json",
        r#"{"nodes": [
        {"id": "a", "type": "tool", "tool_name": "echo", "dependencies": ["zz"]},
        {"id": "b", "type": "tool", "tool_name": "echo", "tool_arg": {}}
    ]}"#,
    );
    let out = run(&["validate", "--json"], &file);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    let unknown = errors
        .iter()
        .find(|e| e["code"] == "E_UNKNOWN_FIELD")
        .unwrap();
    assert_eq!(unknown["node"], "b");
    assert_eq!(unknown["path"], "$.nodes[1].tool_arg");
    assert!(unknown["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `tool_args`"));
    let ok = write(
        dir.path(),
        "ok.json",
        r#"[{"id": "a", "type": "tool", "tool_name": "echo"}]"#,
    );
    assert_eq!(run(&["validate"], &ok).status.code(), Some(0));
}

#[test]
fn events_print_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "e.json",
        r#"[{"id": "a", "type": "tool", "tool_name": "echo"}, {"id": "b", "type": "tool", "tool_name": "echo", "dependencies": ["a"]}]"#,
    );
    let out = run(&["run", "--events"], &file);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let events: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "workflow.started");
    assert_eq!(events.last().unwrap()["type"], "workflow.completed");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|e| e["type"] == "node.completed" && e["node_id"] == "b"));
}

#[test]
fn tools_list_and_describe() {
    let out = ice().args(["tools", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for tool in [
        "echo",
        "sleep",
        "fail",
        "expr",
        "template",
        "jq",
        "http_request",
        "file_read",
        "file_write",
        "text_split",
        "concat",
    ] {
        assert!(text.contains(tool), "{tool} missing from {text}");
    }
    let out = ice()
        .args(["tools", "describe", "text_split"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["input_schema"]["required"],
        json!(["text", "chunk_size"])
    );
    assert_eq!(
        exit_code(ice().args(["tools", "describe", "nope"])),
        Some(2)
    );
}

/// Bad documents: each gets a clear error and exit code 2, never a crash.
#[test]
fn bad_documents_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed.json", "{\"nodes\": [ {\"id\": }".into(), "line 1"),
        ("malformed.yaml", "nodes:\n  - id: a\n    type: [tool\n".into(), "YAML"),
        ("deep.json", "[".repeat(10_000) + &"]".repeat(10_000), "E_PARSE"),
        ("deep.yaml", "a:\n".to_owned() + &(1..3000).map(|i| format!("{}b:\n", " ".repeat(i))).collect::<String>(), "E_PARSE"),
        ("not-a-blueprint.json", "42".into(), "a blueprint is an object"),
        ("wrong-types.json", r#"{"max_parallel": "many", "nodes": [{"id": 5, "type": "tool"}, {"id": "b", "type": "tool", "tool_name": 3, "retries": -1, "dependencies": "a"}]}"#.into(), "E_INVALID_FIELD"),
        ("nodes-not-list.json", r#"{"nodes": {"a": 1}}"#.into(), "must be a list"),
    ];
    for (name, text, needle) in cases {
        let file = write(dir.path(), name, &text);
        let out = run(&["validate"], &file);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{name}: {all}");
        assert!(all.contains(needle), "{name}: expected `{needle}` in {all}");
        assert_eq!(run(&["run"], &file).status.code(), Some(2), "{name} (run)");
    }
}

#[test]
fn a_huge_document_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let filler = "x".repeat(50 * 1024 * 1024);
    let file = write(
        dir.path(),
        "huge.json",
        &format!(
            r#"[{{"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {{"x": "{filler}"}}}}]"#
        ),
    );
    let clock = Instant::now();
    let out = run(&["run"], &file);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("over the limit"), "{}", stderr(&out));
    assert!(clock.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_template_that_loops_forever_fails_the_node_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "loop.json",
        r#"[{"id": "t", "type": "tool", "tool_name": "echo",
        "tool_args": {"x": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}}]"#,
    );
    let out = run(&["run", "--json"], &file);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        result["nodes"]["t"]["error"]
            .as_str()
            .unwrap()
            .contains("fuel"),
        "{}",
        result["nodes"]["t"]["error"]
    );
}

#[test]
fn ctrl_c_cancels_the_run_and_prints_the_partial_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.json",
        r#"[
        {"id": "quick", "type": "tool", "tool_name": "echo", "tool_args": {"v": 1}},
        {"id": "slow", "type": "tool", "tool_name": "sleep", "tool_args": {"ms": 30000}}
    ]"#,
    );
    let child = ice()
        .args(["run", "--json"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let clock = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(clock.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "cancelled");
    assert_eq!(result["nodes"]["quick"]["status"], "succeeded");
    assert_eq!(result["nodes"]["slow"]["status"], "cancelled");
    assert!(stderr(&out).contains("cancelling"));
}

#[test]
fn every_example_validates_and_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    // LLM and agent examples talk to a loopback server that speaks the
    // OpenAI protocol, with the example agent packages registered.
    let async_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = async_runtime
        .block_on(ice_llm::MockLlm::start(Vec::new()))
        .unwrap();
    let run = |args: &[&str], file: &Path| {
        ice()
            .args(args)
            .arg("--agents")
            .arg(dir.join("agents"))
            .env("OPENAI_BASE_URL", server.base_url())
            .arg(file)
            .output()
            .unwrap()
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("type: code")
            && ice_sandbox::testing::runtimes_or_skip("examples with code nodes").is_none()
        {
            continue;
        }
        assert_eq!(
            run(&["validate"], &path).status.code(),
            Some(0),
            "{}",
            path.display()
        );
        let out = run(&["run", "--json"], &path);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
    }
    assert!(seen >= 4);
    assert!(
        !server.requests().is_empty(),
        "the agents example reached the server"
    );
}

#[test]
fn agents_run_from_the_command_line_with_their_events() {
    let async_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = async_runtime
        .block_on(ice_llm::MockLlm::start(vec![
            ice_llm::MockReply::ToolCalls(vec![("expr".into(), json!({"expression": "2 + 2"}))]),
            ice_llm::MockReply::Text("four".into()),
        ]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    std::fs::create_dir(&agents).unwrap();
    write(
        &agents,
        "math.yaml",
        "system_prompt: Count.\ntools: [expr]\nllm_config: { model: m }\n",
    );
    write(&agents, "broken.yaml", "system_prompt: x\nmodle: m\n");
    let doc = write(
        dir.path(),
        "main.yaml",
        "nodes:\n  - { id: count, type: agent, package: math }\n",
    );
    let run_with_agents = || {
        ice()
            .args(["run", "--events", "--agents"])
            .arg(&agents)
            .arg(&doc)
            .env("OPENAI_BASE_URL", server.base_url())
            .output()
            .unwrap()
    };
    let out = run_with_agents();
    assert_eq!(out.status.code(), Some(2), "a broken package is refused");
    assert!(
        stderr(&out).contains("broken") && stderr(&out).contains("modle"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(agents.join("broken.yaml")).unwrap();
    let out = run_with_agents();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "node.progress")
        .map(|e| &e["payload"])
        .collect();
    assert!(progress.iter().any(|p| p["tool_call"]["name"] == "expr"));
    assert!(progress
        .iter()
        .any(|p| p["tool_result"]["result"]["result"] == 4));
    assert!(progress.iter().any(|p| p["token"] == "four"));
    assert!(events.iter().any(|e| e["type"] == "resource.token_update"));
}

#[test]
fn a_workflows_directory_registers_blueprints_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    write(&lib, "greeter.yaml", "name: greet\nnodes:\n  - { id: hi, type: tool, tool_name: template, tool_args: { template: \"hi {{ who }}\" } }\n");
    let parent = write(
        dir.path(),
        "main.json",
        r#"[{"id": "call", "type": "workflow", "workflow_ref": "greet", "config_overrides": {"who": "ice"}, "exposed_outputs": {"text": "hi.text"}}]"#,
    );
    let out = ice()
        .args(["run", "--json", "--workflows"])
        .arg(&lib)
        .arg(&parent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["output"]["call"]["text"], "hi ice");
    assert_eq!(
        run(&["run"], &parent).status.code(),
        Some(2),
        "without --workflows the reference is unknown"
    );
}
