//! Agents: a model that calls tools in a loop until it answers. The same
//! loop runs `agent` nodes and the `agent_package` of `recursive` nodes.
//!
//! An agent is defined inline on its node or registered by name (a
//! package, [`AgentDefinition`]); the node's own fields override its
//! package's.

use crate::error::{ErrorKind, NodeError};
use crate::executor::NodeCtx;
use crate::llm::{
    as_text, call_model, ChatMessage, ChatRequest, ProviderCell, Role, Sampling, ToolCall,
    ToolSpec, Usage,
};
use crate::tool::Tool;
use crate::Runtime;
use futures::future::join_all;
use ice_core::event::EventType;
use ice_core::node::{AgentNode, LlmConfig};
use ice_core::template::ValueTemplate;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Model turns when neither the node nor its package says.
pub const DEFAULT_MAX_ITERATIONS: u32 = 10;

/// A registered agent (an `agent_package`): what an `agent` node or a
/// `recursive` node names by `package` / `agent_package`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDefinition {
    /// The registry name (files: the file name without extension when
    /// absent).
    #[serde(default)]
    pub name: Option<String>,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Instructions (a template over the node's context).
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// Tool names, or `{name, description}` objects.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// The model and its provider.
    #[serde(default)]
    pub llm_config: Option<LlmConfig>,
    /// Model turns at most.
    #[serde(default)]
    pub max_iterations: Option<u32>,
}

/// An agent ready to run: its package and node fields merged, its tools
/// resolved.
pub struct CompiledAgent {
    system_prompt: Option<ValueTemplate>,
    tools: Vec<(ToolSpec, Arc<dyn Tool>)>,
    model: String,
    sampling: Sampling,
    provider: ProviderCell,
    max_iterations: u32,
    memory: Option<MemorySpec>,
}

/// `memory: {key, max_messages}`: the conversation kept across runs under
/// `key` (a template).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemorySpec {
    key: String,
    #[serde(default = "MemorySpec::default_max_messages")]
    max_messages: usize,
}

impl MemorySpec {
    fn default_max_messages() -> usize {
        50
    }
}

/// Why an agent cannot be compiled: an unknown package or tool (a
/// reference), or a bad field.
pub enum AgentConfigError {
    /// A package or tool that is not registered.
    UnknownRef(String),
    /// Anything else.
    Invalid(String),
}

impl CompiledAgent {
    /// Compiles an `agent` node's fields over its package's.
    pub fn compile(node: &AgentNode, runtime: &Runtime) -> Result<Self, AgentConfigError> {
        let package = match &node.package {
            Some(name) => Some(runtime.agent(name).ok_or_else(|| {
                AgentConfigError::UnknownRef(format!("agent package `{name}` is not registered"))
            })?),
            None => None,
        };
        if !node.mcp_servers.is_empty() {
            return Err(AgentConfigError::Invalid(
                "mcp_servers are not supported by this build yet; register the tools instead"
                    .into(),
            ));
        }
        let base = package.map(|p| (**p).clone()).unwrap_or_default();
        let merged = AgentDefinition {
            system_prompt: node.system_prompt.clone().or(base.system_prompt),
            tools: if node.tools.is_empty() {
                base.tools
            } else {
                node.tools.clone()
            },
            llm_config: node.llm_config.clone().or(base.llm_config),
            max_iterations: node.max_iterations.or(base.max_iterations),
            ..AgentDefinition::default()
        };
        let mut agent = Self::from_definition(&merged, runtime)?;
        agent.memory = node
            .memory
            .as_ref()
            .map(|m| serde_json::from_value(m.clone()))
            .transpose()
            .map_err(|e| AgentConfigError::Invalid(format!("memory: {e}")))?;
        Ok(agent)
    }

    /// Compiles a registered package (a recursive node's `agent_package`).
    pub fn package(name: &str, runtime: &Runtime) -> Result<Self, AgentConfigError> {
        let definition = runtime.agent(name).ok_or_else(|| {
            AgentConfigError::UnknownRef(format!("agent package `{name}` is not registered"))
        })?;
        Self::from_definition(definition, runtime)
    }

    fn from_definition(def: &AgentDefinition, runtime: &Runtime) -> Result<Self, AgentConfigError> {
        let llm = def.llm_config.clone().unwrap_or_default();
        let model = match llm.model.as_deref() {
            Some(model) if !model.is_empty() => model.to_owned(),
            _ => {
                return Err(AgentConfigError::Invalid(
                    "an agent needs `llm_config.model`".into(),
                ))
            }
        };
        let system_prompt = def
            .system_prompt
            .as_deref()
            .map(ValueTemplate::compile_str)
            .transpose()
            .map_err(|e| AgentConfigError::Invalid(format!("system_prompt: {}", e.message)))?;
        let tools = def
            .tools
            .iter()
            .enumerate()
            .map(|(i, entry)| resolve_tool(entry, runtime).map_err(|e| e.at_tool(i)))
            .collect::<Result<_, _>>()?;
        Ok(CompiledAgent {
            system_prompt,
            tools,
            model,
            sampling: Sampling::from_config(&llm),
            provider: ProviderCell::new(llm),
            max_iterations: def.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS).max(1),
            memory: None,
        })
    }

    /// Runs the loop: the model sees the system prompt, the remembered
    /// conversation and `input`, calls tools (concurrently, each call an
    /// event) until it answers without tool calls. Output `{response, text,
    /// tool_calls, iterations, usage}`.
    pub async fn run(&self, input: String, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let provider = self.provider.get(ctx.runtime)?;
        let mut messages = Vec::new();
        if let Some(prompt) = &self.system_prompt {
            messages.push(ChatMessage::new(
                Role::System,
                as_text(prompt.render(ctx.jinja)?),
            ));
        }
        let memory_key = self.memory_key(ctx)?;
        if let Some(key) = &memory_key {
            messages.extend(ctx.runtime.agent_memory().recall(key));
        }
        let question = ChatMessage::new(Role::User, input);
        messages.push(question.clone());
        let specs: Vec<ToolSpec> = self.tools.iter().map(|(spec, _)| spec.clone()).collect();
        let mut usage = Usage::default();
        let mut calls = Vec::new();
        for iteration in 1..=self.max_iterations {
            let request = ChatRequest {
                model: self.model.clone(),
                messages: messages.clone(),
                tools: specs.clone(),
                sampling: self.sampling.clone(),
                json_schema: None,
            };
            let response = call_model(provider.as_ref(), &request, ctx).await?;
            usage += response.usage;
            messages.push(ChatMessage {
                tool_calls: response.tool_calls.clone(),
                ..ChatMessage::new(Role::Assistant, response.text.clone())
            });
            if response.tool_calls.is_empty() {
                let answer = ChatMessage::new(Role::Assistant, response.text.clone());
                if let (Some(key), Some(m)) = (&memory_key, &self.memory) {
                    // The question and the final answer, not the tool
                    // exchange, which a provider would refuse once trimmed.
                    ctx.runtime
                        .agent_memory()
                        .append(key, &[question, answer], m.max_messages);
                }
                return Ok(json!({
                    "response": response.text,
                    "text": response.text,
                    "tool_calls": calls,
                    "iterations": iteration,
                    "usage": usage,
                }));
            }
            let results =
                join_all(response.tool_calls.iter().map(|c| self.call_tool(c, ctx))).await;
            for (call, result) in response.tool_calls.iter().zip(results) {
                let content = match &result {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("error: {}", e.message),
                };
                messages.push(ChatMessage::tool_result(&call.id, content));
                let (result, error) = match result {
                    Ok(v) => (v, Value::Null),
                    Err(e) if e.kind == ErrorKind::Budget || e.kind == ErrorKind::Cancelled => {
                        return Err(e)
                    }
                    Err(e) => (Value::Null, Value::String(e.message)),
                };
                calls.push(json!({"name": call.name, "arguments": call.arguments, "result": result, "error": error}));
            }
        }
        Err(NodeError::validation(format!(
            "the agent reached max_iterations ({}) without a final answer",
            self.max_iterations
        )))
    }

    /// One tool call the model asked for; only the agent's own tools run.
    async fn call_tool(&self, call: &ToolCall, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        ctx.run.emit(EventType::NodeProgress, Some(ctx.node_id), || {
            json!({"tool_call": {"id": call.id, "name": call.name, "arguments": call.arguments}})
        });
        let result = match self.tools.iter().find(|(spec, _)| spec.name == call.name) {
            None => Err(NodeError::validation(format!(
                "tool `{}` is not one of this agent's tools",
                call.name
            ))),
            Some((_, tool)) => {
                ctx.run.budget.charge_tool()?;
                tool.call(call.arguments.clone(), &ctx.tool_context()).await
            }
        };
        ctx.run.emit(EventType::NodeProgress, Some(ctx.node_id), || {
            let (result, error) = match &result {
                Ok(v) => (v.clone(), Value::Null),
                Err(e) => (Value::Null, Value::String(e.message.clone())),
            };
            json!({"tool_result": {"id": call.id, "name": call.name, "result": result, "error": error}})
        });
        result
    }

    /// The memory key, rendered against the node's context.
    fn memory_key(&self, ctx: &NodeCtx<'_>) -> Result<Option<String>, NodeError> {
        self.memory
            .as_ref()
            .map(|m| Ok(as_text(ice_core::template::render_str(&m.key, ctx.jinja)?)))
            .transpose()
    }
}

impl AgentConfigError {
    /// The same error, said of the `index`-th tool entry.
    fn at_tool(self, index: usize) -> Self {
        match self {
            AgentConfigError::UnknownRef(m) => {
                AgentConfigError::UnknownRef(format!("tools[{index}]: {m}"))
            }
            AgentConfigError::Invalid(m) => {
                AgentConfigError::Invalid(format!("tools[{index}]: {m}"))
            }
        }
    }
}

/// A tool entry (`"name"` or `{name | tool_name, description}`) and the
/// registered tool it names.
fn resolve_tool(
    entry: &Value,
    runtime: &Runtime,
) -> Result<(ToolSpec, Arc<dyn Tool>), AgentConfigError> {
    let (name, description) = match entry {
        Value::String(name) => (name.as_str(), None),
        Value::Object(map) => {
            if let Some(key) = map
                .keys()
                .find(|k| !matches!(k.as_str(), "name" | "tool_name" | "description"))
            {
                return Err(AgentConfigError::Invalid(format!(
                    "unknown key `{key}` (a tool entry has name, tool_name, description)"
                )));
            }
            let name = map
                .get("name")
                .or_else(|| map.get("tool_name"))
                .and_then(Value::as_str)
                .ok_or_else(|| AgentConfigError::Invalid("a tool entry needs `name`".into()))?;
            (name, map.get("description").and_then(Value::as_str))
        }
        other => {
            return Err(AgentConfigError::Invalid(format!(
                "a tool entry is a name or an object, got {other}"
            )))
        }
    };
    let tool = runtime
        .tools()
        .get(name)
        .ok_or_else(|| AgentConfigError::UnknownRef(format!("tool `{name}` is not registered")))?;
    let spec = ToolSpec {
        name: name.to_owned(),
        description: description.unwrap_or(tool.description()).to_owned(),
        parameters: tool.input_schema(),
    };
    Ok((spec, tool.clone()))
}

/// Conversations of agents with `memory`, by key, kept for the life of the
/// runtime.
#[derive(Default)]
pub struct AgentMemory {
    conversations: Mutex<HashMap<String, Vec<ChatMessage>>>,
}

impl AgentMemory {
    /// The messages kept under `key`.
    pub fn recall(&self, key: &str) -> Vec<ChatMessage> {
        self.conversations
            .lock()
            .expect("agent memory")
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// Adds messages under `key`, keeping the last `max_messages`.
    pub fn append(&self, key: &str, messages: &[ChatMessage], max_messages: usize) {
        let mut all = self.conversations.lock().expect("agent memory");
        let kept = all.entry(key.to_owned()).or_default();
        kept.extend_from_slice(messages);
        let excess = kept.len().saturating_sub(max_messages);
        kept.drain(..excess);
    }
}
