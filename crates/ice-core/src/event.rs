//! Run events (SPEC 5.2): one ordered stream per run.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::SystemTime;

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// The type of an event, named as iceOS names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType {
            $(
                #[doc = concat!("`", $name, "`")]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl EventType {
            /// The event's name (`node.started`…).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }
        }
    };
}

event_types! {
    WorkflowStarted => "workflow.started",
    WorkflowCompleted => "workflow.completed",
    WorkflowFailed => "workflow.failed",
    WorkflowPaused => "workflow.paused",
    WorkflowResumed => "workflow.resumed",
    WorkflowCancelled => "workflow.cancelled",
    LevelStarted => "level.started",
    LevelCompleted => "level.completed",
    NodeQueued => "node.queued",
    NodeStarted => "node.started",
    NodeProgress => "node.progress",
    NodeCompleted => "node.completed",
    NodeFailed => "node.failed",
    NodeSkipped => "node.skipped",
    NodeRetrying => "node.retrying",
    NodeWaiting => "node.waiting",
    TokenUpdate => "resource.token_update",
    CostUpdate => "resource.cost_update",
    ContextSnapshot => "debug.context_snapshot",
    ValidationError => "debug.validation_error",
    CanvasSuggestion => "canvas.suggestion",
    CanvasPreview => "canvas.preview",
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the run's stream, from 1.
    pub seq: u64,
    /// When it happened.
    #[serde(
        serialize_with = "crate::result::serialize_time_required",
        deserialize_with = "crate::result::deserialize_time_required"
    )]
    pub ts: SystemTime,
    /// The run.
    pub run_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The node concerned, as `parent.child` for inline nodes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_id: Option<String>,
    /// Details, by type.
    pub payload: Value,
}
