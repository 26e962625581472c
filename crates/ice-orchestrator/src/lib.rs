//! # ice-orchestrator
//!
//! The engine of `ice`: it compiles a blueprint into a plan, schedules its
//! nodes by dataflow, runs each through the node pipeline (retry → timeout
//! → executor), and reports a [`RunResult`](ice_core::result::RunResult) and
//! an ordered event stream.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ice_orchestrator::{Workflow, Runtime};
//! use serde_json::json;
//!
//! let wf = Workflow::from_value(json!([
//!     {"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"n": 2}},
//!     {"id": "b", "type": "tool", "tool_name": "expr", "dependencies": ["a"],
//!      "tool_args": {"expression": "a.n * 21"}}
//! ]));
//! let result = wf.execute(json!({})).await.unwrap();
//! assert!(result.success);
//! assert_eq!(result.output["b"]["result"], 42);
//! # }
//! ```
#![warn(missing_docs)]

pub mod agent;
pub mod code;
pub mod context;
pub mod error;
pub mod events;
pub mod executor;
pub mod executors;
pub mod llm;
pub mod pipeline;
pub mod plan;
pub mod retry;
pub mod run;
pub mod runtime;
pub mod scheduler;
pub mod slots;
pub mod tool;
pub mod tools;
pub mod workflow;

pub use agent::AgentDefinition;
pub use code::{CodeLanguage, CodeLimits, CodePolicy, CodeRequest, CodeRunner, PrintStream};
pub use context::NodeContext;
pub use error::{ErrorKind, NodeError, WorkflowError};
pub use events::EventStream;
pub use executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
pub use ice_core;
pub use ice_core::analysis::GraphAnalysis;
pub use llm::{LlmConnector, LlmProvider};
pub use run::{RunHandle, RunOptions};
pub use runtime::{Runtime, RuntimeBuilder};
pub use tool::{Tool, ToolContext};
pub use workflow::Workflow;
