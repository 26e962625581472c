//! The guest's stdin: empty until the request is handed over, so that an
//! interpreter can start (and wait in its first read) before there is
//! anything for it to run.

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use wasmtime_wasi::cli::{IsTerminal, StdinStream};
use wasmtime_wasi::p2::{InputStream, Pollable, StreamError};

/// A stdin that the host fills once; reads wait until it does.
#[derive(Clone, Default)]
pub(crate) struct RequestPipe {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<PipeState>,
    filled: Notify,
}

#[derive(Default)]
struct PipeState {
    /// What is left to read, once the request is there.
    data: Option<Bytes>,
}

impl RequestPipe {
    /// Hands over the request; the guest reads it, then end of file. An
    /// empty request is end of file at once.
    pub(crate) fn send(&self, request: Vec<u8>) {
        self.shared.state.lock().expect("stdin lock").data = Some(Bytes::from(request));
        self.shared.filled.notify_waiters();
        self.shared.filled.notify_one();
    }

    fn is_filled(&self) -> bool {
        self.shared.state.lock().expect("stdin lock").data.is_some()
    }
}

impl IsTerminal for RequestPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for RequestPipe {
    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(self.clone())
    }

    /// The WASI preview 1 guests here read through [`Self::p2_stream`].
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        Box::new(tokio::io::empty())
    }
}

#[async_trait::async_trait]
impl InputStream for RequestPipe {
    fn read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        let mut state = self.shared.state.lock().expect("stdin lock");
        match &mut state.data {
            None => Ok(Bytes::new()),
            Some(data) if data.is_empty() => Err(StreamError::Closed),
            Some(data) => Ok(data.split_to(size.min(data.len()))),
        }
    }
}

#[async_trait::async_trait]
impl Pollable for RequestPipe {
    async fn ready(&mut self) {
        loop {
            let filled = self.shared.filled.notified();
            if self.is_filled() {
                return;
            }
            filled.await;
        }
    }
}
