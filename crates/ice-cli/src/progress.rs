//! The live progress display of `ice run` on a terminal: nodes done,
//! running and failed, and the elapsed time. Hidden when stderr is not a
//! terminal.

use ice_orchestrator::ice_core::event::{Event, EventType};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// Counts node events into a progress bar.
pub struct Progress {
    bar: ProgressBar,
    running: u64,
    failed: u64,
}

impl Progress {
    /// A bar over `total` nodes.
    pub fn new(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} nodes done  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress {
            bar,
            running: 0,
            failed: 0,
        }
    }

    /// Takes one event into account.
    pub fn on_event(&mut self, event: &Event) {
        match event.event_type {
            EventType::NodeStarted if event.payload["attempt"] == 1 => self.running += 1,
            EventType::NodeCompleted => {
                self.running = self.running.saturating_sub(1);
                self.bar.inc(1);
            }
            EventType::NodeFailed => {
                self.running = self.running.saturating_sub(1);
                self.failed += 1;
                self.bar.inc(1);
            }
            EventType::NodeSkipped => self.bar.inc(1),
            _ => return,
        }
        self.bar
            .set_message(format!("{} running  {} failed", self.running, self.failed));
    }

    /// Runs `print` with the bar hidden, so that printed lines and the bar
    /// do not mix.
    pub fn suspend(&self, print: impl FnOnce()) {
        self.bar.suspend(print);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: EventType, payload: serde_json::Value) -> Event {
        Event {
            seq: 1,
            ts: std::time::SystemTime::now(),
            run_id: "r_test".into(),
            event_type,
            node_id: Some("n".into()),
            payload,
        }
    }

    #[test]
    fn counts_done_running_and_failed_nodes() {
        let mut progress = Progress::new(4);
        progress.on_event(&event(EventType::NodeStarted, json!({"attempt": 1})));
        progress.on_event(&event(EventType::NodeStarted, json!({"attempt": 1})));
        progress.on_event(&event(EventType::NodeStarted, json!({"attempt": 2})));
        progress.on_event(&event(EventType::NodeCompleted, json!({})));
        progress.on_event(&event(EventType::NodeFailed, json!({})));
        progress.on_event(&event(EventType::NodeSkipped, json!({})));
        assert_eq!(
            (progress.running, progress.failed, progress.bar.position()),
            (0, 1, 3)
        );
        progress.finish();
    }
}
