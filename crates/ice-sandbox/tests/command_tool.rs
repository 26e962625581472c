//! The `command` tool: real child processes under real limits.

use ice_orchestrator::ice_core::result::{NodeStatus, RunResult};
use ice_orchestrator::{Runtime, Workflow};
use ice_sandbox::{CommandPolicy, CommandTool};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn allow(programs: &[&str]) -> Runtime {
    Runtime::builder()
        .tool(CommandTool::new(CommandPolicy {
            allow: programs.iter().map(|p| p.to_string()).collect(),
        }))
        .build()
}

async fn run(runtime: Runtime, args: Value) -> RunResult {
    let doc = json!([{"id": "c", "type": "tool", "tool_name": "command", "tool_args": args}]);
    Workflow::from_value(doc)
        .with_runtime(runtime)
        .execute(json!({}))
        .await
        .unwrap()
}

fn error_of(result: &RunResult) -> String {
    assert_eq!(
        result.nodes["c"].status,
        NodeStatus::Failed,
        "{:?}",
        result.output
    );
    result.nodes["c"].error.clone().unwrap()
}

/// Waits (bounded) until `gone` holds; false if it never does.
async fn eventually(mut gone: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if gone() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_program_runs_with_an_empty_environment_in_a_fresh_directory() {
    let script = "pwd; ls -A | wc -l; env | wc -l; echo \"in:$(cat)\"; echo oops >&2";
    let result = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", script], "stdin": "hello", "env": {}}),
    )
    .await;
    assert!(result.success, "{:?}", result.nodes["c"].error);
    let out = &result.output["c"];
    let lines: Vec<&str> = out["stdout"].as_str().unwrap().lines().collect();
    assert!(lines[0].contains("ice-command-"), "{lines:?}");
    assert!(
        !Path::new(lines[0]).exists(),
        "the working directory was left behind"
    );
    assert_eq!(lines[1].trim(), "0", "the working directory was not empty");
    // `sh` itself sets PWD, SHLVL and `_`; nothing comes from ice's environment.
    assert!(lines[2].trim().parse::<u32>().unwrap() <= 3, "{lines:?}");
    assert_eq!(lines[3], "in:hello");
    assert_eq!(out["stderr"], "oops\n");
    assert_eq!(out["exit_code"], 0);

    let with_env = run(
        allow(&["sh"]),
        json!({"command": "sh", "args": ["-c", "echo $GREETING"], "env": {"GREETING": "hi"}}),
    )
    .await;
    assert_eq!(with_env.output["c"]["stdout"], "hi\n");
}

#[tokio::test]
async fn only_allowed_programs_run_and_failures_name_the_exit() {
    let refused = run(
        allow(&["true"]),
        json!({"command": ["sh", "-c", "echo no"]}),
    )
    .await;
    assert!(error_of(&refused).contains("ICE_COMMAND_ALLOW"));
    let failing = run(
        allow(&["*"]),
        json!({"command": ["sh", "-c", "echo bad >&2; exit 3"]}),
    )
    .await;
    assert_eq!(error_of(&failing), "`sh` exited with status 3: bad");
    let unchecked = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", "exit 3"], "check": false}),
    )
    .await;
    assert!(unchecked.success);
    assert_eq!(unchecked.output["c"]["exit_code"], 3);
}

#[tokio::test]
async fn output_file_size_and_memory_are_bounded() {
    let flood = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x"], "output_bytes": 1000}),
    )
    .await;
    assert!(flood.success, "{:?}", flood.nodes["c"].error);
    assert_eq!(flood.output["c"]["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(flood.output["c"]["truncated"], true);

    let big_file = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", "head -c 5000000 /dev/zero > f"], "file_size_mb": 1}),
    )
    .await;
    let error = error_of(&big_file);
    assert!(
        error.contains("file_size_mb") || error.contains("File size limit exceeded"),
        "{error}"
    );

    let hungry = run(
        allow(&["awk"]),
        json!({"command": ["awk", "BEGIN { s = sprintf(\"%300000000s\", \"x\"); print length(s) }"], "memory_mb": 128}),
    )
    .await;
    let error = error_of(&hungry).to_lowercase();
    assert!(error.contains("memory"), "{error}");
}

#[tokio::test]
async fn cpu_time_is_limited() {
    let busy = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", "while :; do :; done"], "cpu_seconds": 1, "timeout_seconds": 30}),
    )
    .await;
    // SIGXCPU ends the program once it used its second of CPU.
    let error = error_of(&busy);
    assert!(error.contains("CPU time limit `cpu_seconds`"), "{error}");
}

#[tokio::test]
async fn a_program_that_ignores_sigterm_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let script = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 1; done",
        pid_file.display()
    );
    let result = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", script], "timeout_seconds": 1}),
    )
    .await;
    let error = error_of(&result);
    assert!(error.contains("timed out after 1s"), "{error}");
    assert!(error.contains("process group was killed"), "{error}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = format!("/proc/{}", pid.trim());
    assert!(
        eventually(|| !Path::new(&proc_dir).exists()).await,
        "process {} outlived its timeout",
        pid.trim()
    );
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_cleaned_up() {
    let marker = format!("ice-bomb-{}", std::process::id());
    // Each copy is `sh -c <script> <marker>`, so that its processes can be found.
    let script = "bomb() { bomb | bomb & }; bomb; sleep 5";
    let result = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", script, &marker], "max_processes": 20, "timeout_seconds": 2}),
    )
    .await;
    assert_eq!(result.nodes["c"].status, NodeStatus::Failed);
    let survivors = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&marker))
                    .unwrap_or(false)
            })
            .count()
    };
    assert!(
        eventually(|| survivors() == 0).await,
        "{} processes of the fork bomb survived",
        survivors()
    );
    // The machine still starts processes.
    let after = run(allow(&["true"]), json!({"command": "true"})).await;
    assert!(after.success, "{:?}", after.nodes["c"].error);
}

#[tokio::test]
async fn open_files_are_limited() {
    // Descriptors 0–2 are open; with a limit of 5, opening 3, 4, 5… fails at 5.
    let script = "for fd in 3 4 5 6 7; do eval \"exec $fd</dev/null\" || exit 9; done";
    let result = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", script], "open_files": 5}),
    )
    .await;
    assert!(
        error_of(&result).contains("status"),
        "{}",
        error_of(&result)
    );
    let roomy = run(
        allow(&["sh"]),
        json!({"command": ["sh", "-c", script], "open_files": 64}),
    )
    .await;
    assert!(roomy.success, "{:?}", roomy.nodes["c"].error);
}
