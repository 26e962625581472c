//! `ice graph FILE [--json]`: levels, critical path, cycles and slack.

use ice_orchestrator::{GraphAnalysis, Runtime};
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `ice graph`.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// The blueprint (JSON or YAML).
    file: PathBuf,
    /// Print the whole analysis as JSON.
    #[arg(long)]
    json: bool,
}

/// Analyses the workflow's graph and prints it; exit 0, or 2 with the
/// validation report when the document is invalid.
pub fn graph(args: GraphArgs, runtime: Runtime) -> u8 {
    let wf = match super::load(&args.file, runtime, args.json) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let analysis = match wf.analyze() {
        Ok(analysis) => analysis,
        Err(e) => {
            super::report_error(&e, args.json);
            return crate::EXIT_INVALID;
        }
    };
    let out = if args.json {
        serde_json::to_string_pretty(&analysis).unwrap_or_default() + "\n"
    } else {
        text(&analysis)
    };
    // A closed pipe (`ice graph FILE | head`) is not an error.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    crate::EXIT_OK
}

/// The analysis as text: levels, critical path, cycles, then the slack of
/// the nodes off the critical path.
fn text(a: &GraphAnalysis) -> String {
    let mut out = format!("levels: {}\n", a.levels.len());
    for (level, (ids, width)) in a.levels.iter().zip(&a.level_widths).enumerate() {
        out += &format!("  {level} (width {width}): {}\n", ids.join(", "));
    }
    out += &format!(
        "critical path: {} ({} ms)\n",
        a.critical_path.nodes.join(" -> "),
        a.critical_path.total_ms
    );
    if !a.cycles.is_empty() {
        out += "cycles:\n";
    }
    for c in &a.cycles {
        out += &format!(
            "  {} <-> {}: {} iteration(s) estimated, {} ms; at most {}, {} ms\n",
            c.node,
            c.sources.join(", "),
            c.estimated_iterations,
            c.estimated_ms,
            c.max_iterations,
            c.worst_case_ms
        );
    }
    let on_path: HashSet<&String> = a.critical_path.nodes.iter().collect();
    let off_path: Vec<_> = a
        .slack_ms
        .iter()
        .filter(|(id, _)| !on_path.contains(id))
        .collect();
    if !off_path.is_empty() {
        out += "slack:\n";
    }
    for (id, slack) in off_path {
        out += &format!("  {id}: {slack} ms\n");
    }
    out
}
