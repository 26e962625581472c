//! `code_bench`: what code nodes cost. For Python and JavaScript it prints
//! one JSON line each: the interpreter's compile time (once per machine),
//! the first run in a new process (precompiled module loaded), the median
//! warm run of one node (after a pause, or back to back with `--gap-ms 0`), and the throughput of a workflow of N code nodes.

use clap::Parser;
use ice_orchestrator::{CodeLanguage, Runtime, Workflow};
use ice_sandbox::{runtimes, WasmSandbox};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Measures code nodes.
#[derive(Parser)]
struct Args {
    /// Single-node runs measured for the warm figure.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Pause before each warm run, so that the interpreters started ahead
    /// of time are ready (0: back to back).
    #[arg(long, default_value_t = 300)]
    gap_ms: u64,
    /// Code nodes in the throughput workflow.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn node(language: CodeLanguage, id: &str) -> Value {
    match language {
        CodeLanguage::Python => json!({"id": id, "type": "code",
            "code": "def main(ctx):\n    return {'y': ctx.get('x', 1) * 2}"}),
        CodeLanguage::JavaScript => json!({"id": id, "type": "code", "language": "javascript",
            "code": "function main(ctx) { return {y: (ctx.x || 1) * 2}; }"}),
    }
}

async fn run(sandbox: &Arc<WasmSandbox>, doc: Value) -> Result<Duration, String> {
    let wf = Workflow::from_value(doc)
        .with_runtime(Runtime::builder().code_runner(sandbox.clone()).build());
    let clock = Instant::now();
    let result = wf
        .execute(json!({"x": 21}))
        .await
        .map_err(|e| e.to_string())?;
    let took = clock.elapsed();
    if !result.success {
        return Err(format!("the run failed: {:?}", result.error));
    }
    Ok(took)
}

async fn bench(language: CodeLanguage, args: &Args) -> Result<Value, String> {
    let installed = runtimes::default_dir();
    runtimes::ensure_installed(&installed).map_err(|e| e.to_string())?;
    // Compile once from scratch, in a directory without precompiled files.
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = runtimes::RuntimeFile::of(language).file_name;
    std::fs::copy(installed.join(file), scratch.path().join(file)).map_err(|e| e.to_string())?;
    let clock = Instant::now();
    WasmSandbox::with_runtimes_dir(scratch.path())
        .prepare(language)
        .map_err(|e| e.to_string())?;
    let compile = clock.elapsed();

    let sandbox = Arc::new(WasmSandbox::with_runtimes_dir(&installed));
    let first = run(&sandbox, json!([node(language, "n")])).await?;
    let mut warm = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat.max(1) {
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        warm.push(run(&sandbox, json!([node(language, "n")])).await?);
    }
    warm.sort();
    let nodes: Vec<Value> = (0..args.nodes)
        .map(|i| node(language, &format!("n{i}")))
        .collect();
    let many = run(&sandbox, json!(nodes)).await?;
    Ok(json!({
        "language": language.as_str(),
        "compile_ms": ms(compile),
        "first_run_ms": ms(first),
        "warm_run_median_ms": ms(warm[warm.len() / 2]),
        "warm_run_min_ms": ms(warm[0]),
        "nodes": args.nodes,
        "workflow_ms": ms(many),
        "nodes_per_second": args.nodes as f64 / many.as_secs_f64(),
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    for language in [CodeLanguage::Python, CodeLanguage::JavaScript] {
        match bench(language, &args).await {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{language}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
