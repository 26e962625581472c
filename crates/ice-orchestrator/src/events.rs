//! The event stream of a run: events numbered in order and sent to the
//! run's subscriber. A run without a subscriber builds no events at all.

use futures::Stream;
use ice_core::event::{Event, EventType};
use serde_json::Value;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Numbers and delivers the events of one run.
#[derive(Debug)]
pub struct EventSink {
    run_id: String,
    /// The next sequence number and the subscriber, under one lock so that
    /// events arrive in `seq` order.
    state: Option<Mutex<(u64, mpsc::UnboundedSender<Event>)>>,
}

impl EventSink {
    /// A sink that drops everything.
    pub fn disabled(run_id: &str) -> Self {
        EventSink {
            run_id: run_id.to_owned(),
            state: None,
        }
    }

    /// A sink and the stream of its events.
    pub fn channel(run_id: &str) -> (Self, EventStream) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            EventSink {
                run_id: run_id.to_owned(),
                state: Some(Mutex::new((1, tx))),
            },
            EventStream { rx },
        )
    }

    /// True when someone listens: callers may skip building payloads.
    pub fn enabled(&self) -> bool {
        self.state.is_some()
    }

    /// Emits an event; `payload` is built only when someone listens.
    pub fn emit(
        &self,
        event_type: EventType,
        node_id: Option<&str>,
        payload: impl FnOnce() -> Value,
    ) {
        let Some(state) = &self.state else { return };
        let payload = payload();
        let mut guard = state.lock().expect("event sink");
        let seq = guard.0;
        guard.0 += 1;
        let _ = guard.1.send(Event {
            seq,
            ts: SystemTime::now(),
            run_id: self.run_id.clone(),
            event_type,
            node_id: node_id.map(str::to_owned),
            payload,
        });
    }
}

/// The events of a run, in order; ends when the run has ended.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    /// The next event, or `None` once the run has ended.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}
