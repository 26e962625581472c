//! One run of an interpreter module: a fresh store with WASI (no files, no
//! network, no environment), the memory cap, the epoch deadline that stops
//! it on timeout or cancellation, and captured stdout and stderr.

use crate::output::Capture;
use ice_orchestrator::PrintStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{Engine, Instance, InstancePre, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::WasiCtxBuilder;

/// What a guest's store holds.
pub(crate) struct GuestState {
    wasi: WasiP1Ctx,
    memory: MemoryCap,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    stopped_by: Option<StopCause>,
}

/// Gives the WASI implementation to the linker.
pub(crate) fn wasi(state: &mut GuestState) -> &mut WasiP1Ctx {
    &mut state.wasi
}

/// Why the engine stopped a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// It ran past its deadline.
    Timeout,
    /// The node was abandoned (cancelled or timed out by the engine).
    Cancelled,
}

/// Refuses linear memory beyond a cap and remembers that it did.
struct MemoryCap {
    limit: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// How to start a guest.
pub(crate) struct GuestSetup {
    /// Its command line (the program name first).
    pub argv: Vec<String>,
    /// What it reads on stdin.
    pub stdin: Vec<u8>,
    /// Where its output goes.
    pub capture: Capture,
    /// Its memory cap in bytes.
    pub memory_bytes: usize,
    /// When to stop it.
    pub deadline: Option<Instant>,
    /// Set when the node is abandoned.
    pub stop: Arc<AtomicBool>,
}

/// How a guest ended.
pub(crate) struct GuestEnd {
    /// The trap or error that ended it, if it did not return.
    pub error: Option<wasmtime::Error>,
    /// Whether it asked for more memory than its cap.
    pub memory_refused: bool,
    /// Whether the engine stopped it.
    pub stopped_by: Option<StopCause>,
}

/// Instantiates the module in a fresh store and runs `entry` on it.
pub(crate) fn run(
    engine: &Engine,
    pre: &InstancePre<GuestState>,
    setup: GuestSetup,
    entry: impl FnOnce(&mut Store<GuestState>, &Instance) -> wasmtime::Result<()>,
) -> GuestEnd {
    let wasi = WasiCtxBuilder::new()
        .args(&setup.argv)
        .stdin(MemoryInputPipe::new(setup.stdin))
        .stdout(setup.capture.stream(PrintStream::Stdout))
        .stderr(setup.capture.stream(PrintStream::Stderr))
        .build_p1();
    let mut store = Store::new(
        engine,
        GuestState {
            wasi,
            memory: MemoryCap {
                limit: setup.memory_bytes,
                refused: false,
            },
            deadline: setup.deadline,
            stop: setup.stop,
            stopped_by: None,
        },
    );
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        let cause = if state.stop.load(Ordering::Relaxed) {
            Some(StopCause::Cancelled)
        } else if state.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(StopCause::Timeout)
        } else {
            None
        };
        match cause {
            Some(cause) => {
                state.stopped_by = Some(cause);
                Ok(UpdateDeadline::Interrupt)
            }
            None => Ok(UpdateDeadline::Continue(1)),
        }
    });
    let error = pre
        .instantiate(&mut store)
        .and_then(|instance| entry(&mut store, &instance))
        .err();
    let state = store.data();
    GuestEnd {
        error,
        memory_refused: state.memory.refused,
        stopped_by: state.stopped_by,
    }
}
