//! The builtin node executors.

mod agent;
mod code;
mod condition;
mod inline;
mod llm;
mod loop_node;
mod parallel;
mod recursive;
mod tool;
mod workflow_node;

pub use agent::AgentExecutor;
pub use code::CodeExecutor;
pub use condition::ConditionExecutor;
pub use llm::LlmExecutor;
pub use loop_node::LoopExecutor;
pub use parallel::ParallelExecutor;
pub use recursive::RecursiveExecutor;
pub use tool::ToolExecutor;
pub use workflow_node::WorkflowExecutor;

use crate::executor::ExecutorRegistry;
use serde_json::{json, Value};
use std::sync::Arc;

/// A node's output from a tool's or a program's result: an object as it is,
/// any other value `v` as `{"result": v}`.
fn as_output(result: Value) -> Value {
    match result {
        Value::Object(_) => result,
        other => json!({ "result": other }),
    }
}

/// Registers every builtin node type that this build can run.
pub fn register_builtins(registry: &mut ExecutorRegistry) {
    registry.register("tool", Arc::new(ToolExecutor));
    registry.register("code", Arc::new(CodeExecutor));
    registry.register("llm", Arc::new(LlmExecutor));
    registry.register("agent", Arc::new(AgentExecutor));
    registry.register("condition", Arc::new(ConditionExecutor));
    registry.register("loop", Arc::new(LoopExecutor));
    registry.register("parallel", Arc::new(ParallelExecutor));
    registry.register("workflow", Arc::new(WorkflowExecutor));
    registry.register("recursive", Arc::new(RecursiveExecutor));
}
