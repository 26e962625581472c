//! # ice-sandbox
//!
//! Runs `code` nodes inside WebAssembly: CPython 3.12 and QuickJS-NG, both
//! built for WASI, inside wasmtime, with no filesystem, no network, no
//! environment and no subprocesses; a wall-clock deadline enforced by epoch
//! interruption, a memory cap, and a cap on printed output. Each execution
//! gets a fresh instance from a pooling allocator; interpreter modules are
//! compiled once per machine and kept precompiled.
//!
//! The [`command`] tool runs external programs as child processes under
//! resource limits, in their own process group and working directory.
//!
//! The interpreters are not part of the repository: `ice sandbox install`
//! (or [`runtimes::install`]) fetches them from the package registry and
//! checks them against pinned checksums.
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! use ice_orchestrator::{Runtime, Workflow};
//! use ice_sandbox::WasmSandbox;
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! let runtime = Runtime::builder()
//!     .code_runner(Arc::new(WasmSandbox::new()))
//!     .build();
//! let wf = Workflow::from_value(json!([
//!     {"id": "sq", "type": "code", "code": "output = {'y': ctx['x'] ** 2}"}
//! ]))
//! .with_runtime(runtime);
//! let result = wf.execute(json!({"x": 7})).await.unwrap();
//! assert_eq!(result.output["sq"]["y"], 49);
//! # }
//! ```
#![warn(missing_docs)]

pub mod command;
mod engine;
mod guest;
mod javascript;
mod output;
mod pool;
mod python;
mod runner;
pub mod runtimes;
mod stdin;
#[doc(hidden)]
pub mod testing;

pub use command::{CommandPolicy, CommandTool};
pub use runner::WasmSandbox;

use guest::GuestState;
use ice_orchestrator::CodeLanguage;
use std::path::PathBuf;
use wasmtime::{Instance, Store};

/// Why the sandbox could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// A runtime is not installed.
    #[error("the {language} runtime is not installed (no {path}): run `ice sandbox install`")]
    NotInstalled {
        /// The language it runs.
        language: CodeLanguage,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A runtime file does not have its pinned checksum.
    #[error("checksum mismatch for {file}: expected sha256 {expected}, found {actual}")]
    Checksum {
        /// The file.
        file: String,
        /// The pinned SHA-256.
        expected: String,
        /// The file's SHA-256.
        actual: String,
    },
    /// Installing a runtime failed.
    #[error("cannot install a runtime: {0}")]
    Install(String),
    /// wasmtime refused something.
    #[error("WebAssembly: {0}")]
    Wasm(String),
}

impl SandboxError {
    fn wasm(error: wasmtime::Error) -> Self {
        SandboxError::Wasm(format!("{error:#}"))
    }
}

/// The call that runs a guest once it is instantiated.
type Entry = Box<dyn FnOnce(&mut Store<GuestState>, &Instance) -> wasmtime::Result<()> + Send>;

/// How to start a guest: its command line and the call that runs it.
pub(crate) struct Launch {
    argv: Vec<String>,
    entry: Entry,
}
