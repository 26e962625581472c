//! One run of an interpreter module: a fresh store with WASI (no files, no
//! network, no environment), the memory cap, the epoch deadline that stops
//! it on timeout or cancellation, and captured stdout and stderr. A guest
//! may start before its request exists (a pre-started interpreter): what
//! belongs to the request is its [`Assignment`], set when it is handed over.

use crate::output::{Capture, CaptureStream};
use crate::stdin::RequestPipe;
use ice_orchestrator::PrintStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use wasmtime::{Engine, Instance, InstancePre, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

/// What a guest runs for: its output capture, deadline and memory cap,
/// and the flag that stops it.
pub(crate) struct Assignment {
    capture: Arc<OnceLock<Capture>>,
    deadline: OnceLock<Instant>,
    memory_bytes: AtomicUsize,
    /// Set when the node is abandoned.
    pub stop: Arc<AtomicBool>,
}

impl Assignment {
    /// An assignment still to be made; until then the guest may use
    /// `memory_bytes`.
    pub(crate) fn pending(memory_bytes: usize) -> Arc<Self> {
        Arc::new(Assignment {
            capture: Arc::new(OnceLock::new()),
            deadline: OnceLock::new(),
            memory_bytes: AtomicUsize::new(memory_bytes),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Binds the guest to a request.
    pub(crate) fn assign(&self, capture: Capture, deadline: Option<Instant>, memory_bytes: usize) {
        let _ = self.capture.set(capture);
        if let Some(deadline) = deadline {
            let _ = self.deadline.set(deadline);
        }
        self.memory_bytes.store(memory_bytes, Ordering::Relaxed);
    }
}

/// What a guest's store holds; it also refuses linear memory beyond the
/// assignment's cap, and remembers that it did.
pub(crate) struct GuestState {
    wasi: WasiP1Ctx,
    assignment: Arc<Assignment>,
    memory_refused: bool,
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

impl ResourceLimiter for GuestState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.assignment.memory_bytes.load(Ordering::Relaxed) {
            self.memory_refused = true;
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
    pub stdin: RequestPipe,
    /// Its request's output, deadline, memory cap and stop flag.
    pub assignment: Arc<Assignment>,
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

/// Instantiates the module in a fresh store, runs `entry` on it, and hands
/// how it ended to `report` before the store (and its memory) is released.
pub(crate) fn run(
    engine: &Engine,
    pre: &InstancePre<GuestState>,
    setup: GuestSetup,
    entry: impl FnOnce(&mut Store<GuestState>, &Instance) -> wasmtime::Result<()>,
    report: impl FnOnce(GuestEnd),
) {
    let capture = &setup.assignment.capture;
    let wasi = WasiCtxBuilder::new()
        .args(&setup.argv)
        .stdin(setup.stdin)
        .stdout(CaptureStream::new(capture.clone(), PrintStream::Stdout))
        .stderr(CaptureStream::new(capture.clone(), PrintStream::Stderr))
        .build_p1();
    let mut store = Store::new(
        engine,
        GuestState {
            wasi,
            assignment: setup.assignment,
            memory_refused: false,
            stopped_by: None,
        },
    );
    store.limiter(|state| state);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        let cause = if state.assignment.stop.load(Ordering::Relaxed) {
            Some(StopCause::Cancelled)
        } else if state
            .assignment
            .deadline
            .get()
            .is_some_and(|d| Instant::now() >= *d)
        {
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
    report(GuestEnd {
        error,
        memory_refused: state.memory_refused,
        stopped_by: state.stopped_by,
    });
}
