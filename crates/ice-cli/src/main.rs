//! `ice`: run, validate and inspect workflows from the command line.

mod commands;
mod inputs;
mod progress;

use clap::{Parser, Subcommand};

use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a run that succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code of a run that failed or was cancelled.
pub const EXIT_RUN_FAILED: u8 = 1;
/// Exit code of invalid input: the document, the inputs or the arguments.
pub const EXIT_INVALID: u8 = 2;

/// ice: a workflow engine for LLM and agent applications.
#[derive(Parser)]
#[command(name = "ice", version, about)]
struct Cli {
    /// The directory file tools are confined to (default: $ICE_WORKSPACE, else the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// A directory of blueprints that `workflow_ref` can name (by file name without extension, or by `name`).
    #[arg(long, global = true, value_name = "DIR")]
    workflows: Option<PathBuf>,
    /// A directory of agent definitions that `package` and `agent_package` can name (by file name without extension, or by `name`).
    #[arg(long, global = true, value_name = "DIR")]
    agents: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workflow.
    Run(commands::run::RunArgs),
    /// Validate a workflow and report every problem.
    Validate(commands::validate::ValidateArgs),
    /// Analyse a workflow's graph: levels, critical path, cycles, slack.
    Graph(commands::graph::GraphArgs),
    /// List and describe the tools.
    Tools {
        #[command(subcommand)]
        command: commands::tools::ToolsCommand,
    },
    /// Install the WebAssembly runtimes of code nodes.
    #[cfg(feature = "wasm")]
    Sandbox {
        #[command(subcommand)]
        command: commands::sandbox::SandboxCommand,
    },
}

fn runtime(cli: &Cli) -> Result<ice_orchestrator::Runtime, String> {
    let mut builder = ice_orchestrator::Runtime::builder();
    if let Some(dir) = &cli.workspace {
        builder = builder.workspace(dir);
    }
    if let Some(dir) = &cli.workflows {
        builder = builder.workflows_dir(dir)?;
    }
    if let Some(dir) = &cli.agents {
        builder = builder.agents_dir(dir)?;
    }
    #[cfg(feature = "llm")]
    {
        builder = builder.llm_connector(std::sync::Arc::new(ice_llm::HttpConnector));
    }
    #[cfg(feature = "wasm")]
    {
        builder = builder
            .code_runner(std::sync::Arc::new(ice_sandbox::WasmSandbox::new()))
            .tool(ice_sandbox::CommandTool::new(
                ice_sandbox::CommandPolicy::from_env(),
            ));
    }
    Ok(builder.build())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_INVALID
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match runtime(&cli) {
        Ok(runtime) => runtime,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let code = match cli.command {
        Command::Run(args) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(EXIT_RUN_FAILED);
                }
            };
            rt.block_on(commands::run::run(args, runtime))
        }
        Command::Validate(args) => commands::validate::validate(args, runtime),
        Command::Graph(args) => commands::graph::graph(args, runtime),
        Command::Tools { command } => commands::tools::tools(command, runtime),
        #[cfg(feature = "wasm")]
        Command::Sandbox { command } => commands::sandbox::sandbox(command),
    };
    ExitCode::from(code)
}
