//! # ice-core
//!
//! The language of `ice`: blueprint documents and node configs (serde
//! types), their parsing and validation, templates and expressions, and the
//! result and event types of a run. Pure: no async runtime, no I/O beyond
//! reading a string.
//!
//! ```
//! use ice_core::{parse::{parse_text, parse_blueprint, Format}, Findings};
//! let mut findings = Findings::default();
//! let doc = parse_text(r#"[{"id": "a", "type": "tool", "tool_name": "echo"}]"#, Format::Json, &mut findings).unwrap();
//! let blueprint = parse_blueprint(&doc, &mut findings).unwrap();
//! assert_eq!(blueprint.nodes[0].id(), "a");
//! ```
#![warn(missing_docs)]

pub mod analysis;
pub mod blueprint;
pub mod conform;
pub mod diagnostic;
pub mod event;
pub mod fields;
pub mod graph;
pub mod json_view;
pub mod node;
pub mod parse;
pub mod path;
pub mod result;
mod simple_expr;
pub mod template;
pub mod validate;

pub use blueprint::{Blueprint, ExecutionMode, FailurePolicy, OnBudgetExceeded, RunSettings};
pub use diagnostic::{Code, Diagnostic, Findings, ValidationReport};
pub use node::{NodeCommon, NodeConfig, NodeKind, NodeType, TriggerRule};
