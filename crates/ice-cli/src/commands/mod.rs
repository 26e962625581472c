//! One module per subcommand.

pub mod graph;
pub mod run;
#[cfg(feature = "wasm")]
pub mod sandbox;
pub mod tools;
pub mod validate;

use ice_orchestrator::{Runtime, Workflow, WorkflowError};
use std::path::Path;

/// Loads a workflow file, printing why it cannot be loaded.
pub fn load(path: &Path, runtime: Runtime, json: bool) -> Result<Workflow, u8> {
    match Workflow::from_file(path) {
        Ok(wf) => Ok(wf.with_runtime(runtime)),
        Err(e) => {
            report_error(&e, json);
            Err(crate::EXIT_INVALID)
        }
    }
}

/// Prints a workflow error: the validation report as JSON with `--json`,
/// else as text on stderr.
pub fn report_error(error: &WorkflowError, json: bool) {
    match (error.report(), json) {
        (Some(report), true) => println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        ),
        _ => eprintln!("error: {error}"),
    }
}
