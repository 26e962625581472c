//! `ice-bench FILE…`: measures the engine's own overhead on workloads made
//! by `../shared/bench/gen.py` (trivial nodes), in memory.
//!
//! For each file it prints one JSON line: nodes, validation time (parse +
//! validate), plan time (compile), the median, minimum and maximum execute
//! time over `--repeat` runs, the median per node, whether every node's
//! value adds up to the document's `expected_value_sum`, and the process's
//! peak resident memory so far.

use clap::Parser;

use ice_core::diagnostic::Findings;
use ice_core::parse::{parse_text, Format};
use ice_core::validate::validate_document;
use ice_orchestrator::{Runtime, Workflow};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Measures engine overhead on benchmark workloads.
#[derive(Parser)]
struct Args {
    /// Workload documents (gen.py `--dialect ice`).
    files: Vec<PathBuf>,
    /// Measured runs per file.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Unmeasured runs first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Peak resident set size of this process, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn bench(path: &PathBuf, args: &Args) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let runtime = Runtime::default();

    let clock = Instant::now();
    let mut f = Findings::default();
    let doc = parse_text(&text, Format::Json, &mut f).ok_or("the document does not parse")?;
    let (_, report) = validate_document(&doc, &runtime, f);
    let validate_time = clock.elapsed();
    if !report.valid {
        return Err(format!("invalid workload:\n{report}"));
    }
    let expected = doc["metadata"]["expected_value_sum"].as_u64();
    let nodes = doc["nodes"].as_array().map_or(0, Vec::len);

    let clock = Instant::now();
    // From the file, so that relative workflow references resolve.
    let wf = Workflow::from_file(path)
        .map_err(|e| e.to_string())?
        .with_runtime(runtime);
    wf.validate().map_err(|e| e.to_string())?;
    let plan_time = clock.elapsed();

    for _ in 0..args.warmup {
        wf.execute(json!({})).await.map_err(|e| e.to_string())?;
    }
    let mut times = Vec::with_capacity(args.repeat);
    let mut value_sum_ok = true;
    for _ in 0..args.repeat.max(1) {
        let clock = Instant::now();
        let result = wf.execute(json!({})).await.map_err(|e| e.to_string())?;
        times.push(clock.elapsed());
        if !result.success {
            return Err(format!("the run failed: {:?}", result.error));
        }
        if let Some(expected) = expected {
            let sum: u64 = result
                .output
                .values()
                .filter_map(|o| o.get("value").and_then(Value::as_u64))
                .sum();
            let slept = result
                .output
                .values()
                .filter(|o| o.get("slept_ms").is_some())
                .count() as u64;
            value_sum_ok &= sum == expected || slept == expected;
        }
    }
    let med = median(times.clone());
    Ok(json!({
        "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "nodes": nodes,
        "validate_ms": ms(validate_time),
        "plan_ms": ms(plan_time),
        "execute_median_ms": ms(med),
        "execute_min_ms": ms(*times.iter().min().unwrap()),
        "execute_max_ms": ms(*times.iter().max().unwrap()),
        "per_node_us": med.as_secs_f64() * 1e6 / nodes.max(1) as f64,
        "value_sum_ok": value_sum_ok,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut failed = false;
    for path in &args.files {
        match bench(path, &args).await {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
