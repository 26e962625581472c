//! Errors of nodes and of workflows.

use ice_core::ValidationReport;
use serde::Serialize;
use std::fmt;

/// What kind of failure a node had; decides whether it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// An attempt ran past its timeout (retryable).
    Timeout,
    /// A connection or transport failure (retryable).
    Transport,
    /// An HTTP status outside the accepted ones (retryable for 429 and 5xx).
    Http,
    /// A tool reported an error (retryable when it says so).
    Tool,
    /// Bad arguments, templates or schemas (never retried).
    Validation,
    /// A budget was exceeded (never retried).
    Budget,
    /// The run was cancelled (never retried).
    Cancelled,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// The name used in `retry_on` lists.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Http => "http",
            ErrorKind::Tool => "tool",
            ErrorKind::Validation => "validation",
            ErrorKind::Budget => "budget",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The failure of one node attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// For the run result and events.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

impl NodeError {
    /// A failure of `kind`; retryable for timeouts and transport errors.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        NodeError {
            kind,
            message: message.into(),
            retryable: matches!(kind, ErrorKind::Timeout | ErrorKind::Transport),
        }
    }

    /// A tool failure; `retryable` says whether to try again.
    pub fn tool(message: impl Into<String>, retryable: bool) -> Self {
        NodeError {
            kind: ErrorKind::Tool,
            message: message.into(),
            retryable,
        }
    }

    /// Bad input: never retried.
    pub fn validation(message: impl Into<String>) -> Self {
        NodeError::new(ErrorKind::Validation, message)
    }

    /// Sets whether the error is retryable.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NodeError {}

impl From<ice_core::template::TemplateError> for NodeError {
    fn from(e: ice_core::template::TemplateError) -> Self {
        NodeError::validation(e.message)
    }
}

/// Why a workflow could not be loaded or a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The document is invalid: every problem is in the report.
    #[error("the workflow is invalid:\n{0}")]
    Invalid(ValidationReport),
    /// The run inputs do not fit the workflow.
    #[error("invalid run inputs:\n{0}")]
    Inputs(ValidationReport),
}

impl WorkflowError {
    /// The validation report, for invalid documents and inputs.
    pub fn report(&self) -> Option<&ValidationReport> {
        match self {
            WorkflowError::Invalid(r) | WorkflowError::Inputs(r) => Some(r),
            WorkflowError::Io { .. } => None,
        }
    }
}
