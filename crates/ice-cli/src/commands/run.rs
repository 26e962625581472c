//! `ice run FILE`: runs a workflow with a live progress display, prints the
//! result (or `--json`) and, with `--events`, every event as a JSON line.

use crate::progress::Progress;
use ice_orchestrator::ice_core::result::{NodeStatus, RunResult};
use ice_orchestrator::ice_core::{ExecutionMode, FailurePolicy, RunSettings};
use ice_orchestrator::{RunOptions, Runtime};
use std::path::PathBuf;

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| e.to_string())
}

/// Arguments of `ice run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The blueprint (JSON or YAML).
    file: PathBuf,
    /// A run input; the value is JSON when it parses as JSON, else a string.
    #[arg(long = "input", value_name = "KEY=VALUE")]
    inputs: Vec<String>,
    /// A JSON file holding an object of run inputs.
    #[arg(long, value_name = "FILE")]
    inputs_json: Option<PathBuf>,
    /// Print the run result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    events: bool,
    /// Nodes running at once (0 = unbounded).
    #[arg(long)]
    max_parallel: Option<usize>,
    /// halt_on_first_error, continue_if_possible or always_continue.
    #[arg(long, value_parser = parse_enum::<FailurePolicy>)]
    failure_policy: Option<FailurePolicy>,
    /// dataflow or levels.
    #[arg(long, value_parser = parse_enum::<ExecutionMode>)]
    execution_mode: Option<ExecutionMode>,
    /// Per-attempt timeout of nodes that set none.
    #[arg(long, value_name = "SECONDS")]
    default_node_timeout_seconds: Option<f64>,
    /// Tool executions at most.
    #[arg(long)]
    max_tool_executions: Option<u64>,
}

/// Runs the workflow; returns the exit code.
pub async fn run(args: RunArgs, runtime: Runtime) -> u8 {
    let inputs = match crate::inputs::collect(&args.inputs, args.inputs_json.as_deref()) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::EXIT_INVALID;
        }
    };
    let wf = match super::load(&args.file, runtime, args.json) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let options = RunOptions {
        settings: RunSettings {
            max_parallel: args.max_parallel,
            failure_policy: args.failure_policy,
            execution_mode: args.execution_mode,
            default_node_timeout_seconds: args.default_node_timeout_seconds,
            max_tool_executions: args.max_tool_executions,
            ..RunSettings::default()
        },
        run_id: None,
    };
    let mut handle = match wf.start_with(inputs, options) {
        Ok(handle) => handle,
        Err(e) => {
            super::report_error(&e, args.json);
            return crate::EXIT_INVALID;
        }
    };
    let total = wf.node_count() as u64;
    let mut events = handle.events().expect("a new run has its event stream");
    let print_events = args.events;
    let printer = tokio::spawn(async move {
        let mut progress = Progress::new(total);
        while let Some(event) = events.next_event().await {
            progress.on_event(&event);
            if print_events {
                progress
                    .suspend(|| println!("{}", serde_json::to_string(&event).unwrap_or_default()));
            }
        }
        progress.finish();
    });
    let cancel = handle.cancellation_token();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling the run (partial result follows)…");
            cancel.cancel();
        }
    });
    let result = handle.result().await;
    ctrl_c.abort();
    let _ = printer.await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    } else {
        print_summary(&result);
    }
    if result.success {
        crate::EXIT_OK
    } else {
        crate::EXIT_RUN_FAILED
    }
}

/// A line per node and the outputs, for a person.
fn print_summary(result: &RunResult) {
    for (id, report) in &result.nodes {
        let mark = match report.status {
            NodeStatus::Succeeded => "ok  ",
            NodeStatus::Failed => "FAIL",
            NodeStatus::Skipped => "skip",
            NodeStatus::Cancelled => "stop",
            _ => "..  ",
        };
        let detail = match report.status {
            NodeStatus::Succeeded => result
                .output
                .get(id)
                .map(|v| preview(&v.to_string()))
                .unwrap_or_default(),
            NodeStatus::Failed => report.error.clone().unwrap_or_default(),
            NodeStatus::Skipped => report
                .skip_reason
                .map(|r| {
                    serde_json::to_value(r)
                        .map(|v| v.as_str().unwrap_or_default().to_owned())
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let ms = report
            .duration_ms
            .map(|d| format!("{d:.1} ms"))
            .unwrap_or_default();
        println!("{mark} {id:<24} {ms:>10}  {detail}");
    }
    if let Some(outputs) = &result.outputs {
        println!(
            "outputs: {}",
            serde_json::to_string_pretty(outputs).unwrap_or_default()
        );
    }
    let status = serde_json::to_value(result.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    println!(
        "workflow `{}` {status} in {:.1} ms (run {})",
        result.workflow, result.duration_ms, result.run_id
    );
    if let Some(error) = &result.error {
        eprintln!("{error}");
    }
}

fn preview(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
