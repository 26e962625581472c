//! `ice tools list|describe`.

use ice_orchestrator::Runtime;
use serde_json::json;

/// Subcommands of `ice tools`.
#[derive(clap::Subcommand)]
pub enum ToolsCommand {
    /// List the tools with one line each.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a tool's description and JSON Schemas.
    Describe {
        /// The tool's name.
        name: String,
    },
}

/// Runs `ice tools …`.
pub fn tools(command: ToolsCommand, runtime: Runtime) -> u8 {
    match command {
        ToolsCommand::List { json } => {
            if json {
                let list: Vec<_> = runtime
                    .tools()
                    .iter()
                    .map(|t| json!({"name": t.name(), "description": t.description()}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                let width = runtime.tools().names().map(str::len).max().unwrap_or(0);
                for tool in runtime.tools().iter() {
                    println!("{:width$}  {}", tool.name(), tool.description());
                }
            }
            crate::EXIT_OK
        }
        ToolsCommand::Describe { name } => match runtime.tools().get(&name) {
            Some(tool) => {
                let doc = json!({
                    "name": tool.name(),
                    "description": tool.description(),
                    "input_schema": tool.input_schema(),
                    "output_schema": tool.output_schema(),
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
                crate::EXIT_OK
            }
            None => {
                let names: Vec<&str> = runtime.tools().names().collect();
                eprintln!(
                    "error: unknown tool `{name}`; the tools are: {}",
                    names.join(", ")
                );
                crate::EXIT_INVALID
            }
        },
    }
}
