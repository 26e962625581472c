//! Guests on threads of their own, and a few Python interpreters started
//! ahead of their requests, so that a Python code node finds one that has
//! already paid its start-up.

use crate::engine::MAX_WASM_STACK;
use crate::guest::{self, Assignment, GuestEnd, GuestSetup, GuestState};
use crate::stdin::RequestPipe;
use crate::Launch;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use wasmtime::{Engine, InstancePre};

/// A guest that is running, or waiting in its first read for a request.
pub(crate) struct Started {
    /// What binds it to its request.
    pub assignment: Arc<Assignment>,
    /// Where its request goes.
    pub stdin: RequestPipe,
    /// How it ended.
    pub done: oneshot::Receiver<GuestEnd>,
}

/// Starts a guest on a thread of its own (wasmtime runs guests
/// synchronously) within the tokio runtime of `runtime`. A guest that runs
/// its request at once (JavaScript) is assigned before it starts.
pub(crate) fn start(
    engine: &Engine,
    pre: &InstancePre<GuestState>,
    launch: Launch,
    assignment: Arc<Assignment>,
    runtime: tokio::runtime::Handle,
) -> std::io::Result<Started> {
    let stdin = RequestPipe::default();
    let (done_tx, done) = oneshot::channel();
    let setup = GuestSetup {
        argv: launch.argv,
        stdin: stdin.clone(),
        assignment: assignment.clone(),
    };
    let (engine, pre) = (engine.clone(), pre.clone());
    std::thread::Builder::new()
        .name("ice-code".into())
        .stack_size(MAX_WASM_STACK + (4 << 20))
        .spawn(move || {
            let _runtime = runtime.enter();
            guest::run(&engine, &pre, setup, launch.entry, |end| {
                let _ = done_tx.send(end);
            });
        })?;
    Ok(Started {
        assignment,
        stdin,
        done,
    })
}

/// Guests started ahead of their requests.
pub(crate) struct WarmPool {
    idle: Mutex<Vec<Started>>,
    size: usize,
}

impl WarmPool {
    /// A pool that keeps `size` guests waiting.
    pub(crate) fn new(size: usize) -> Self {
        WarmPool {
            idle: Mutex::new(Vec::new()),
            size,
        }
    }

    /// A waiting guest, if there is one.
    pub(crate) fn take(&self) -> Option<Started> {
        self.idle.lock().expect("pool lock").pop()
    }

    /// Starts guests until `size` wait.
    pub(crate) fn refill(&self, mut start: impl FnMut() -> Option<Started>) {
        let mut idle = self.idle.lock().expect("pool lock");
        while idle.len() < self.size {
            match start() {
                Some(started) => idle.push(started),
                None => break,
            }
        }
    }
}

impl Drop for WarmPool {
    /// Waiting guests read end of file and end.
    fn drop(&mut self) {
        for started in self.idle.get_mut().expect("pool lock").drain(..) {
            started.stdin.send(Vec::new());
        }
    }
}
