//! The builtin node executors.

mod tool;

pub use tool::ToolExecutor;

use crate::executor::ExecutorRegistry;
use std::sync::Arc;

/// Registers every builtin node type that this build can run.
pub fn register_builtins(registry: &mut ExecutorRegistry) {
    registry.register("tool", Arc::new(ToolExecutor));
}
