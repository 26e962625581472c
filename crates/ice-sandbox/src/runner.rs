//! [`WasmSandbox`]: the [`CodeRunner`] that code nodes use. Each execution
//! runs on a thread of its own (wasmtime runs guests synchronously), sends
//! printed lines back as they come, and is stopped through the epoch
//! deadline when its node is abandoned.

use crate::engine::WasmEngine;
use crate::guest::{self, Assignment, GuestEnd, GuestState, StopCause};
use crate::output::{Capture, Overflow};
use crate::pool::{self, Started, WarmPool};
use crate::runtimes::{self, RuntimeFile};
use crate::{javascript, python, Launch, SandboxError};
use async_trait::async_trait;
use ice_orchestrator::code::PrintSink;
use ice_orchestrator::{CodeLanguage, CodeLimits, CodeRequest, CodeRunner, ErrorKind, NodeError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{mpsc, Semaphore};
use wasmtime::{InstancePre, Linker};

/// Executions that may run at once (and instances the pool holds).
const MAX_INSTANCES: u32 = 64;
/// Python interpreters kept started ahead of their requests, once a
/// Python code node has run.
const WARM_PYTHON: usize = 2;

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
    python_pool: WarmPool,
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
                // Waiting interpreters hold instances too.
                running: Arc::new(Semaphore::new(MAX_INSTANCES as usize - WARM_PYTHON)),
                python_pool: WarmPool::new(WARM_PYTHON),
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

    /// Starts a guest for a request and binds it to `capture`, the
    /// request's deadline and memory cap (for Python, takes one that is
    /// already waiting, and starts the next); returns it with what its
    /// stdin must receive.
    fn start(
        &self,
        request: &CodeRequest,
        marker: &str,
        capture: &Capture,
    ) -> Result<(Started, Vec<u8>), SandboxError> {
        let pre = self.module(request.language)?;
        let engine = self.parts()?.engine.engine();
        let runtime = tokio::runtime::Handle::current();
        let memory = usize::try_from(request.limits.memory_bytes).unwrap_or(usize::MAX);
        let thread_error =
            |e: std::io::Error| SandboxError::Wasm(format!("cannot start a thread: {e}"));
        let (started, stdin) = match request.language {
            CodeLanguage::Python => {
                let launch = || Launch {
                    argv: python::command_line(),
                    entry: Box::new(python::start),
                };
                let pending = || Assignment::pending(CodeLimits::default().memory_bytes as usize);
                let started = match self.python_pool.take() {
                    Some(started) => started,
                    None => pool::start(engine, &pre, launch(), pending(), runtime.clone())
                        .map_err(thread_error)?,
                };
                self.python_pool.refill(|| {
                    pool::start(engine, &pre, launch(), pending(), runtime.clone()).ok()
                });
                started
                    .assignment
                    .assign(capture.clone(), deadline(&request.limits), memory);
                (started, python::request(request, marker))
            }
            CodeLanguage::JavaScript => {
                // It runs its script at once: bound before it starts.
                let assignment = Assignment::pending(memory);
                assignment.assign(capture.clone(), deadline(&request.limits), memory);
                let launch = javascript::launch(request, marker);
                let started =
                    pool::start(engine, &pre, launch, assignment, runtime).map_err(thread_error)?;
                (started, Vec::new())
            }
        };
        Ok((started, stdin))
    }
}

/// What came of one execution.
struct Execution {
    end: GuestEnd,
    overflow: Option<Overflow>,
    stderr_tail: String,
    record: Option<Vec<u8>>,
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
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        // The result record follows a secret marker, so that printed text
        // cannot pass for it by accident.
        let marker = format!("\u{1e}ice-result-{:032x}:", rand::random::<u128>());
        let capture = Capture::new(marker.clone(), request.limits.output_bytes, lines_tx);
        let limits = request.limits;
        let language = request.language;
        // Loading a module (compiling it, the first time) blocks.
        let inner = self.inner.clone();
        let for_start = capture.clone();
        let (started, stdin) =
            tokio::task::spawn_blocking(move || inner.start(&request, &marker, &for_start))
                .await
                .map_err(|e| {
                    NodeError::new(ErrorKind::Internal, format!("the sandbox failed: {e}"))
                })?
                .map_err(|e| NodeError::validation(e.to_string()))?;
        let Started {
            assignment,
            stdin: pipe,
            mut done,
        } = started;
        let _stop_on_drop = StopOnDrop(assignment.stop.clone());
        pipe.send(stdin);
        let end = loop {
            tokio::select! {
                Some((stream, line)) = lines.recv() => print(stream, &line),
                end = &mut done => break end.map_err(|_| NodeError::new(ErrorKind::Internal, "the sandbox thread died"))?,
            }
        };
        let execution = Execution {
            end,
            overflow: capture.overflow(),
            stderr_tail: capture.stderr_tail(),
            record: capture.finish(),
        };
        while let Ok((stream, line)) = lines.try_recv() {
            print(stream, &line);
        }
        conclude(execution, language, &limits)
    }
}

/// When an execution that starts now must end.
fn deadline(limits: &CodeLimits) -> Option<Instant> {
    limits.timeout.map(|t| Instant::now() + t)
}

/// Turns an execution into the node's output or an error that names the
/// limit that was broken.
fn conclude(
    execution: Execution,
    language: CodeLanguage,
    limits: &CodeLimits,
) -> Result<Value, NodeError> {
    let Execution {
        end,
        overflow,
        stderr_tail,
        record,
    } = execution;
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
