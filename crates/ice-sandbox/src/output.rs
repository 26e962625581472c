//! The guest's stdout and stderr: printed text goes out a line at a time
//! (long lines in chunks) while the code runs, its size is capped, and the
//! result record that the language prelude writes after a secret marker is
//! kept apart from what the code printed.

use bytes::Bytes;
use ice_orchestrator::PrintStream;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use tokio::sync::mpsc::UnboundedSender;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A printed line longer than this goes out in chunks.
const CHUNK: usize = 16 * 1024;
/// How much of stderr error messages quote, in bytes.
const STDERR_TAIL: usize = 4096;
/// The largest result record accepted, in bytes.
const MAX_RESULT: usize = 64 << 20;

/// What a guest wrote, shared by its two streams.
#[derive(Clone)]
pub(crate) struct Capture {
    state: Arc<Mutex<CaptureState>>,
}

struct CaptureState {
    marker: Vec<u8>,
    limit: u64,
    printed: u64,
    /// The limit a write broke, if one did.
    overflow: Option<Overflow>,
    pending: [Vec<u8>; 2],
    /// The last bytes written to stderr, for error messages.
    stderr_tail: Vec<u8>,
    result: Option<Vec<u8>>,
    lines: UnboundedSender<(PrintStream, String)>,
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The printed output passed its limit.
    Printed,
    /// The result record passed [`MAX_RESULT`].
    Result,
}

impl Capture {
    /// A capture that sends printed text to `lines`, allows `limit` bytes of
    /// it, and treats what follows `marker` on stdout as the result record.
    pub(crate) fn new(
        marker: String,
        limit: u64,
        lines: UnboundedSender<(PrintStream, String)>,
    ) -> Self {
        Capture {
            state: Arc::new(Mutex::new(CaptureState {
                marker: marker.into_bytes(),
                limit,
                printed: 0,
                overflow: None,
                pending: [Vec::new(), Vec::new()],
                stderr_tail: Vec::new(),
                result: None,
                lines,
            })),
        }
    }

    /// Sends what is left of unfinished lines and returns the result record,
    /// if the guest wrote one.
    pub(crate) fn finish(&self) -> Option<Vec<u8>> {
        let mut state = self.state.lock().expect("capture lock");
        for which in [PrintStream::Stdout, PrintStream::Stderr] {
            let rest = std::mem::take(&mut state.pending[index(which)]);
            if !rest.is_empty() {
                state.send(which, &rest);
            }
        }
        state.result.take()
    }

    /// The end of what the guest wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let state = self.state.lock().expect("capture lock");
        String::from_utf8_lossy(&state.stderr_tail)
            .trim()
            .to_string()
    }

    /// Which limit a refused write broke, if any.
    pub(crate) fn overflow(&self) -> Option<Overflow> {
        self.state.lock().expect("capture lock").overflow
    }

    fn accept(&self, which: PrintStream, bytes: &[u8]) -> Result<(), Overflow> {
        let mut state = self.state.lock().expect("capture lock");
        state.accept(which, bytes)
    }
}

fn index(which: PrintStream) -> usize {
    match which {
        PrintStream::Stdout => 0,
        PrintStream::Stderr => 1,
    }
}

impl CaptureState {
    fn accept(&mut self, which: PrintStream, bytes: &[u8]) -> Result<(), Overflow> {
        if which == PrintStream::Stdout {
            if let Some(result) = &mut self.result {
                if result.len() + bytes.len() > MAX_RESULT {
                    self.overflow = Some(Overflow::Result);
                    return Err(Overflow::Result);
                }
                result.extend_from_slice(bytes);
                return Ok(());
            }
        }
        if which == PrintStream::Stderr {
            self.stderr_tail.extend_from_slice(bytes);
            let excess = self.stderr_tail.len().saturating_sub(STDERR_TAIL);
            self.stderr_tail.drain(..excess);
        }
        let slot = index(which);
        let searched_from = self.pending[slot].len().saturating_sub(self.marker.len());
        self.pending[slot].extend_from_slice(bytes);
        if which == PrintStream::Stdout {
            if let Some(at) = find(&self.pending[slot][searched_from..], &self.marker) {
                let at = searched_from + at;
                let mut text = std::mem::take(&mut self.pending[slot]);
                let record = text.split_off(at);
                self.result = Some(record[self.marker.len()..].to_vec());
                return self.print(which, text, true);
            }
        }
        let pending = std::mem::take(&mut self.pending[slot]);
        self.print(which, pending, false)
    }

    /// Sends the complete lines of `text` (all of it when `all`), keeping an
    /// unfinished line for later unless it has grown past a chunk.
    fn print(&mut self, which: PrintStream, mut text: Vec<u8>, all: bool) -> Result<(), Overflow> {
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(newline) => newline + 1,
            None => 0,
        };
        let mut rest = text.split_off(complete);
        // A long unfinished line goes out in chunks, but its last bytes stay
        // behind in case they begin the marker.
        let keep = if all {
            0
        } else if rest.len() > CHUNK {
            self.marker.len()
        } else {
            rest.len()
        };
        let flushed = rest.len() - keep;
        let kept = rest.split_off(flushed);
        text.extend_from_slice(&rest);
        self.printed += text.len() as u64;
        if self.printed > self.limit {
            self.overflow = Some(Overflow::Printed);
            return Err(Overflow::Printed);
        }
        for line in text.split_inclusive(|&b| b == b'\n') {
            self.send(which, line);
        }
        self.pending[index(which)] = kept;
        Ok(())
    }

    fn send(&self, which: PrintStream, line: &[u8]) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        // The receiver is gone only when the node was abandoned.
        let _ = self
            .lines
            .send((which, String::from_utf8_lossy(line).into_owned()));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One of the guest's output streams. What is written before the guest
/// has a capture (a pre-started interpreter) is dropped.
#[derive(Clone)]
pub(crate) struct CaptureStream {
    capture: Arc<OnceLock<Capture>>,
    which: PrintStream,
}

impl CaptureStream {
    /// The stream `which` of the capture that `capture` will hold.
    pub(crate) fn new(capture: Arc<OnceLock<Capture>>, which: PrintStream) -> Self {
        CaptureStream { capture, which }
    }

    fn accept(&self, bytes: &[u8]) -> Result<(), Overflow> {
        match self.capture.get() {
            Some(capture) => capture.accept(self.which, bytes),
            None => Ok(()),
        }
    }

    fn refusal(overflow: Overflow) -> StreamError {
        StreamError::trap(match overflow {
            Overflow::Printed => "printed output limit reached",
            Overflow::Result => "result limit reached",
        })
    }
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.accept(&bytes).map_err(Self::refusal)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(1 << 20)
    }
}

#[async_trait::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.accept(buf)
                .map(|()| buf.len())
                .map_err(|_| std::io::Error::other("output limit reached")),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    fn capture(
        limit: u64,
    ) -> (
        Capture,
        tokio::sync::mpsc::UnboundedReceiver<(PrintStream, String)>,
    ) {
        let (tx, rx) = unbounded_channel();
        (Capture::new("@@RESULT@@".into(), limit, tx), rx)
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(PrintStream, String)>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok((_, line)) = rx.try_recv() {
            out.push(line);
        }
        out
    }

    #[test]
    fn lines_go_out_whole_and_the_result_is_kept_apart() {
        let (c, mut rx) = capture(1 << 20);
        c.accept(PrintStream::Stdout, b"hel").unwrap();
        c.accept(PrintStream::Stdout, b"lo\nwor").unwrap();
        assert_eq!(drain(&mut rx), ["hello"]);
        c.accept(PrintStream::Stdout, b"ld@@RES").unwrap();
        c.accept(PrintStream::Stdout, b"ULT@@{\"a\":").unwrap();
        c.accept(PrintStream::Stdout, b"1}").unwrap();
        assert_eq!(c.finish().unwrap(), b"{\"a\":1}");
        assert_eq!(drain(&mut rx), ["world"]);
    }

    #[test]
    fn printing_past_the_limit_is_refused() {
        let (c, _rx) = capture(100);
        c.accept(PrintStream::Stderr, &[b'x'; 60]).unwrap();
        c.accept(PrintStream::Stderr, b"\n").unwrap();
        let err = c.accept(PrintStream::Stdout, &[b'y'; 200_000]).unwrap_err();
        assert_eq!(err, Overflow::Printed);
        assert_eq!(c.overflow(), Some(Overflow::Printed));
    }

    #[test]
    fn a_long_line_goes_out_in_chunks() {
        let (c, mut rx) = capture(1 << 20);
        c.accept(PrintStream::Stdout, &vec![b'z'; 3 * CHUNK])
            .unwrap();
        let lines = drain(&mut rx);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].len() > 2 * CHUNK);
    }
}
