//! `ice validate FILE [--json]`.

use ice_orchestrator::Runtime;
use std::path::PathBuf;

/// Arguments of `ice validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {
    /// The blueprint (JSON or YAML).
    file: PathBuf,
    /// Print `{valid, errors, warnings}` as JSON.
    #[arg(long)]
    json: bool,
}

/// Validates and prints every problem; exit 0 when valid, 2 when not.
pub fn validate(args: ValidateArgs, runtime: Runtime) -> u8 {
    let wf = match super::load(&args.file, runtime, args.json) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let report = wf.report();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{report}");
        if report.valid {
            println!(
                "{}: valid ({} warning(s))",
                args.file.display(),
                report.warnings.len()
            );
        } else {
            println!(
                "{}: {} error(s), {} warning(s)",
                args.file.display(),
                report.errors.len(),
                report.warnings.len()
            );
        }
    }
    if report.valid {
        crate::EXIT_OK
    } else {
        crate::EXIT_INVALID
    }
}
