//! [`WasmSandbox`]: the [`CodeRunner`] that code nodes use. Each execution
//! runs on a thread of its own (wasmtime runs guests synchronously), sends
//! printed lines back as they come, and is stopped through the epoch
//! deadline when its node is abandoned.

use crate::engine::{WasmEngine, MAX_WASM_STACK};
use crate::guest::{self, GuestEnd, GuestSetup, GuestState, StopCause};
use crate::output::{Capture, Overflow};
use crate::runtimes::{self, RuntimeFile};
use crate::{javascript, python, Launch, SandboxError};
use async_trait::async_trait;
use ice_orchestrator::code::PrintSink;
use ice_orchestrator::{CodeLanguage, CodeRequest, CodeRunner, ErrorKind, NodeError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};
use wasmtime::{InstancePre, Linker};

/// Executions that may run at once (and instances the pool holds).
const MAX_INSTANCES: u32 = 64;

/// Runs code nodes in WebAssembly.
///
/// Creating one is cheap: the engine starts with the first code node, and
/// each interpreter is loaded when a node first needs it.
#[derive(Clone)]
pub struct WasmSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    runtimes_dir: PathBuf,
    parts: OnceLock<Result<Parts, SandboxError>>,
    running: Arc<Semaphore>,
}

/// The engine, the WASI linker and the loaded interpreters.
struct Parts {
    engine: WasmEngine,
    linker: Linker<GuestState>,
    modules: Mutex<HashMap<CodeLanguage, InstancePre<GuestState>>>,
}

impl Default for WasmSandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl WasmSandbox {
    /// A sandbox with the runtimes of [`runtimes::default_dir`].
    pub fn new() -> Self {
        Self::with_runtimes_dir(runtimes::default_dir())
    }

    /// A sandbox with the runtimes installed in `dir`.
    pub fn with_runtimes_dir(dir: impl Into<PathBuf>) -> Self {
        WasmSandbox {
            inner: Arc::new(Inner {
                runtimes_dir: dir.into(),
                parts: OnceLock::new(),
                running: Arc::new(Semaphore::new(MAX_INSTANCES as usize)),
            }),
        }
    }

    /// Loads (compiling it the first time on this machine) the interpreter
    /// of a language, so that the first code node does not wait for it.
    pub fn prepare(&self, language: CodeLanguage) -> Result<(), SandboxError> {
        self.inner.module(language).map(drop)
    }
}

impl Inner {
    fn parts(&self) -> Result<&Parts, SandboxError> {
        self.parts
            .get_or_init(|| {
                let engine = WasmEngine::new(self.runtimes_dir.clone(), MAX_INSTANCES)?;
                let mut linker = Linker::new(engine.engine());
                wasmtime_wasi::p1::add_to_linker_sync(&mut linker, guest::wasi)
                    .map_err(SandboxError::wasm)?;
                Ok(Parts {
                    engine,
                    linker,
                    modules: Mutex::new(HashMap::new()),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn module(&self, language: CodeLanguage) -> Result<InstancePre<GuestState>, SandboxError> {
        let parts = self.parts()?;
        let mut modules = parts.modules.lock().expect("module lock");
        if let Some(pre) = modules.get(&language) {
            return Ok(pre.clone());
        }
        let module = parts.engine.load(&RuntimeFile::of(language))?;
        let pre = parts
            .linker
            .instantiate_pre(&module)
            .map_err(SandboxError::wasm)?;
        modules.insert(language, pre.clone());
        Ok(pre)
    }

    /// Runs one execution on the calling thread.
    fn execute(
        &self,
        request: &CodeRequest,
        marker: &str,
        capture: Capture,
        stop: Arc<AtomicBool>,
    ) -> Execution {
        let pre = match self.module(request.language) {
            Ok(pre) => pre,
            Err(e) => return Execution::Unavailable(e),
        };
        let Launch { argv, stdin, entry } = match request.language {
            CodeLanguage::Python => python::launch(request, marker),
            CodeLanguage::JavaScript => javascript::launch(request, marker),
        };
        let setup = GuestSetup {
            argv,
            stdin,
            capture: capture.clone(),
            memory_bytes: usize::try_from(request.limits.memory_bytes).unwrap_or(usize::MAX),
            deadline: request.limits.timeout.map(|t| Instant::now() + t),
            stop,
        };
        let engine = match self.parts() {
            Ok(parts) => parts.engine.engine(),
            Err(e) => return Execution::Unavailable(e),
        };
        let end = guest::run(engine, &pre, setup, entry);
        Execution::Ended {
            end,
            overflow: capture.overflow(),
            stderr_tail: capture.stderr_tail(),
            record: capture.finish(),
        }
    }
}

/// What came of one execution.
enum Execution {
    /// The interpreter could not be loaded.
    Unavailable(SandboxError),
    /// The guest ran.
    Ended {
        end: GuestEnd,
        overflow: Option<Overflow>,
        stderr_tail: String,
        record: Option<Vec<u8>>,
    },
}

/// The record that the preludes write.
#[derive(Deserialize)]
struct Record {
    ok: bool,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    error: String,
    #[serde(default)]
    traceback: String,
}

/// Sets the stop flag when the node's future is dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl CodeRunner for WasmSandbox {
    async fn run(&self, request: CodeRequest, print: PrintSink<'_>) -> Result<Value, NodeError> {
        if request.language == CodeLanguage::JavaScript && !request.imports.is_empty() {
            return Err(NodeError::validation(
                "`imports` are for Python: JavaScript code nodes have no modules to import",
            ));
        }
        let _permit = self
            .inner
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NodeError::new(ErrorKind::Internal, "the sandbox is shut down"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        // The result record follows a secret marker, so that printed text
        // cannot pass for it by accident.
        let marker = format!("\u{1e}ice-result-{:032x}:", rand::random::<u128>());
        let capture = Capture::new(marker.clone(), request.limits.output_bytes, lines_tx);
        let (done_tx, done) = oneshot::channel();
        let inner = self.inner.clone();
        let handle = tokio::runtime::Handle::current();
        let limits = request.limits;
        let language = request.language;
        std::thread::Builder::new()
            .name("ice-code".into())
            .stack_size(MAX_WASM_STACK + (4 << 20))
            .spawn(move || {
                let _runtime = handle.enter();
                let _ = done_tx.send(inner.execute(&request, &marker, capture, stop));
            })
            .map_err(|e| {
                NodeError::new(
                    ErrorKind::Internal,
                    format!("cannot start the sandbox thread: {e}"),
                )
            })?;
        while let Some((stream, line)) = lines.recv().await {
            print(stream, &line);
        }
        let execution = done
            .await
            .map_err(|_| NodeError::new(ErrorKind::Internal, "the sandbox thread died"))?;
        conclude(execution, language, &limits)
    }
}

/// Turns an execution into the node's output or an error that names the
/// limit that was broken.
fn conclude(
    execution: Execution,
    language: CodeLanguage,
    limits: &ice_orchestrator::CodeLimits,
) -> Result<Value, NodeError> {
    let (end, overflow, stderr_tail, record) = match execution {
        Execution::Unavailable(e) => return Err(NodeError::validation(e.to_string())),
        Execution::Ended {
            end,
            overflow,
            stderr_tail,
            record,
        } => (end, overflow, stderr_tail, record),
    };
    let failure = |message: String| Err(NodeError::tool(message, false));
    match end.stopped_by {
        Some(StopCause::Timeout) => {
            let secs = limits.timeout.map_or(0.0, |t| t.as_secs_f64());
            return Err(NodeError::new(
                ErrorKind::Timeout,
                format!("the code timed out after {secs}s and was stopped"),
            ));
        }
        Some(StopCause::Cancelled) => {
            return Err(NodeError::new(ErrorKind::Cancelled, "the code was stopped"));
        }
        None => {}
    }
    match overflow {
        Some(Overflow::Printed) => {
            return failure(format!(
                "the code printed more than the output limit of {}",
                bytes(limits.output_bytes)
            ))
        }
        Some(Overflow::Result) => {
            return failure("the code's output is larger than the 64 MiB result limit".into())
        }
        None => {}
    }
    let memory_note = || format!("memory limit of {} exceeded", bytes(limits.memory_bytes));
    let Some(record) = record else {
        if end.memory_refused {
            return failure(memory_note());
        }
        let cause = match &end.error {
            Some(e) => match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::StackOverflow) => {
                    "stack overflow: the code recursed too deep".to_string()
                }
                _ => format!("{e}"),
            },
            None => "it wrote no result".into(),
        };
        let mut message = format!("the {language} interpreter stopped: {cause}");
        if !stderr_tail.is_empty() {
            message.push('\n');
            message.push_str(&stderr_tail);
        }
        return failure(message);
    };
    let record: Record = serde_json::from_slice(&record).map_err(|e| {
        NodeError::new(
            ErrorKind::Internal,
            format!("unreadable result from the {language} interpreter: {e}"),
        )
    })?;
    if record.ok {
        return Ok(record.output);
    }
    let out_of_memory = end.memory_refused
        || record.error.starts_with("MemoryError")
        || record.error.contains("out of memory");
    let detail = if record.traceback.is_empty() {
        record.error
    } else {
        record.traceback
    };
    if out_of_memory {
        return failure(format!("{}: {detail}", memory_note()));
    }
    failure(detail)
}

/// `256 MiB`, `1 MiB`, `512 KiB`, `100 bytes`.
fn bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
