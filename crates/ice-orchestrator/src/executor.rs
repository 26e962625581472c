//! Node executors: one per node type, registered by type name. The builtin
//! types register themselves the same way as custom ones.

use crate::context::NodeContext;
use crate::error::NodeError;
use crate::plan::BuildEnv;
use crate::run::RunShared;
use crate::runtime::Runtime;
use crate::slots::Slot;
use crate::tool::ToolContext;
use async_trait::async_trait;
use ice_core::{Code, NodeConfig};
use serde_json::Value;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What an executor compiled for one node, once per workflow.
pub type Prepared = Option<Arc<dyn Any + Send + Sync>>;

/// Everything one attempt of a node can use.
pub struct NodeCtx<'a> {
    /// The node's config.
    pub node: &'a NodeConfig,
    /// The node's id in results and events (`parent.child` when inline).
    pub node_id: &'a str,
    /// The input context, seen from templates.
    pub jinja: &'a minijinja::Value,
    /// What the executor prepared for this node.
    pub prepared: &'a Prepared,
    /// Tools, executors, settings.
    pub runtime: &'a Runtime,
    /// The run: events, budgets, cancellation.
    pub run: &'a RunShared,
    /// The attempt, from 1.
    pub attempt: u32,
    /// How long the attempt may take (the node's timeout, else the run's
    /// default).
    pub timeout: Duration,
    /// The node's place among the run's running nodes.
    pub slot: &'a Slot,
}

impl NodeCtx<'_> {
    /// The input context.
    pub fn context(&self) -> &NodeContext {
        self.jinja
            .downcast_object_ref::<NodeContext>()
            .expect("the node context is a NodeContext")
    }

    /// What a tool called by this node sees.
    pub fn tool_context(&self) -> ToolContext<'_> {
        ToolContext {
            node_id: self.node_id,
            context: self.context(),
            workspace: self.runtime.workspace(),
            cancel: &self.run.cancel,
        }
    }

    /// What the executor prepared, as `T`.
    pub fn prepared<T: 'static>(&self) -> Option<&T> {
        self.prepared.as_ref()?.downcast_ref::<T>()
    }
}

/// What an executor's `prepare` knows besides the node.
#[derive(Clone, Copy)]
pub struct PrepareCtx<'a> {
    /// The node's id in results (`parent.child` when inline).
    pub id: &'a str,
    /// The runtime and the document being compiled.
    pub env: BuildEnv<'a>,
    /// The configs of the node's list, for nodes that run siblings again
    /// (recursive nodes).
    pub siblings: &'a [NodeConfig],
}

/// Why a node cannot be prepared: a validation finding of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareError {
    /// The stable code (`E_NODE_CONFIG` unless said otherwise).
    pub code: Code,
    /// What is wrong.
    pub message: String,
}

impl PrepareError {
    /// A reference (to a workflow, say) that resolves to nothing.
    pub fn unknown_ref(message: impl Into<String>) -> Self {
        PrepareError {
            code: Code::UnknownRef,
            message: message.into(),
        }
    }
}

impl From<String> for PrepareError {
    /// An `E_NODE_CONFIG` finding.
    fn from(message: String) -> Self {
        PrepareError {
            code: Code::NodeConfig,
            message,
        }
    }
}

impl From<&str> for PrepareError {
    fn from(message: &str) -> Self {
        PrepareError::from(message.to_owned())
    }
}

/// Runs the nodes of one type.
///
/// ```
/// use async_trait::async_trait;
/// use ice_orchestrator::{NodeCtx, NodeError, NodeExecutor};
/// use serde_json::{json, Value};
///
/// /// `type: greet` nodes answer with a greeting for the `name` in their context.
/// struct Greet;
///
/// #[async_trait]
/// impl NodeExecutor for Greet {
///     async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
///         let name = ctx.context().get("name").map(|v| v.value().clone()).unwrap_or(json!("world"));
///         Ok(json!({"text": format!("Hello, {}!", name.as_str().unwrap_or("?"))}))
///     }
/// }
/// ```
#[async_trait]
pub trait NodeExecutor: Send + Sync + 'static {
    /// Compiles what a node needs, once per workflow (templates, say). An
    /// error here makes the workflow invalid (`E_NODE_CONFIG`, or the code
    /// the error carries).
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let _ = (node, ctx);
        Ok(None)
    }

    /// Runs one attempt.
    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError>;
}

/// Executors by node type name.
#[derive(Clone, Default)]
pub struct ExecutorRegistry {
    executors: HashMap<String, Arc<dyn NodeExecutor>>,
}

impl ExecutorRegistry {
    /// Adds or replaces the executor of a type.
    pub fn register(&mut self, type_name: impl Into<String>, executor: Arc<dyn NodeExecutor>) {
        self.executors.insert(type_name.into(), executor);
    }

    /// The executor of a type.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn NodeExecutor>> {
        self.executors.get(type_name)
    }

    /// True when the type has an executor.
    pub fn contains(&self, type_name: &str) -> bool {
        self.executors.contains_key(type_name)
    }
}
