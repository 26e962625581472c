//! What `llm` and `agent` nodes need of a model provider: chat messages,
//! tool schemas, the [`LlmProvider`] trait, and the [`LlmConnector`] that
//! turns a node's `llm_config` into a provider. The providers themselves
//! (OpenAI-compatible servers, …) live in the `ice-llm` crate.

use crate::error::NodeError;
use crate::executor::NodeCtx;
use async_trait::async_trait;
use ice_core::event::EventType;
use ice_core::node::LlmConfig;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user (or the workflow speaking for them).
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering one tool call.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
    /// The tool calls an assistant message asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message of `role` with plain text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A tool's result for the call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(id.into()),
            ..ChatMessage::new(Role::Tool, content)
        }
    }
}

/// A call of a tool that the model asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call, echoed in the result message.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the model gave them.
    pub arguments: Value,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// Sampling settings of one request; `None` leaves the provider's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// Temperature.
    pub temperature: Option<f64>,
    /// Completion tokens at most.
    pub max_tokens: Option<u64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Passed through to the provider as they are (`custom_parameters`).
    pub extra: Map<String, Value>,
}

impl Sampling {
    /// The sampling settings of an `llm_config`.
    pub fn from_config(config: &LlmConfig) -> Self {
        Sampling {
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            top_p: config.top_p,
            frequency_penalty: config.frequency_penalty,
            presence_penalty: config.presence_penalty,
            stop: config.stop_sequences.clone().unwrap_or_default(),
            extra: config.custom_parameters.clone().unwrap_or_default(),
        }
    }
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model name, as the provider knows it.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Sampling settings.
    pub sampling: Sampling,
    /// Structured output: the answer must be JSON of this schema.
    pub json_schema: Option<Value>,
}

/// Tokens used by one or more requests, and what they cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// US dollars, from the provider's price list (0 when the model's price
    /// is unknown).
    pub cost: f64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.cost += other.cost;
    }
}

/// The model's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// Its text (empty when it only calls tools).
    pub text: String,
    /// The tools it calls.
    pub tool_calls: Vec<ToolCall>,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Tokens and cost.
    pub usage: Usage,
}

/// Receives the answer's text while it arrives.
pub type TokenSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A chat model behind some API.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// Sends one request; text is handed to `on_token` as it streams in.
    /// Errors are classified for retries: HTTP 429 and 5xx, timeouts and
    /// transport failures are retryable, other refusals are not.
    async fn chat(
        &self,
        request: &ChatRequest,
        on_token: TokenSink<'_>,
    ) -> Result<ChatResponse, NodeError>;
}

/// Where and how to reach a provider: the connection part of `llm_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `openai`, `deepseek`, `custom`, … (`openai` when not given).
    pub provider: String,
    /// The API's base URL (an OpenAI-compatible server's, say).
    pub base_url: Option<String>,
    /// The key; else the provider's usual environment variable.
    pub api_key: Option<String>,
    /// Per request.
    pub timeout: Duration,
    /// Retries of one request inside the provider (429, 5xx, transport).
    pub max_retries: u32,
}

impl Endpoint {
    /// Seconds per request when `llm_config.timeout` is not given.
    pub const DEFAULT_TIMEOUT_SECONDS: f64 = 30.0;

    /// The endpoint of an `llm_config`.
    pub fn from_config(config: &LlmConfig) -> Self {
        Endpoint {
            provider: config
                .provider
                .clone()
                .unwrap_or_else(|| "openai".to_owned()),
            base_url: config.base_url.clone(),
            api_key: config.api_key.clone(),
            timeout: Duration::from_secs_f64(
                config
                    .timeout
                    .unwrap_or(Self::DEFAULT_TIMEOUT_SECONDS)
                    .max(0.001),
            ),
            max_retries: config.max_retries.unwrap_or(0),
        }
    }
}

/// Makes providers from endpoints (`ice_llm::HttpConnector`).
pub trait LlmConnector: Send + Sync + 'static {
    /// The provider of an endpoint, or why there is none (an unknown
    /// provider, a missing key…).
    fn connect(&self, endpoint: &Endpoint) -> Result<Arc<dyn LlmProvider>, String>;
}

/// A node's provider, connected on its first use and kept for its later
/// attempts and iterations (one HTTP client and its connections).
pub struct ProviderCell {
    config: LlmConfig,
    provider: OnceLock<Arc<dyn LlmProvider>>,
}

impl ProviderCell {
    /// A cell for the provider of `config`, not connected yet.
    pub fn new(config: LlmConfig) -> Self {
        ProviderCell {
            config,
            provider: OnceLock::new(),
        }
    }

    /// The provider, connected through the runtime's connector on first use,
    /// or a clear error (no connector, an unknown provider, a missing key).
    pub fn get(&self, runtime: &crate::Runtime) -> Result<Arc<dyn LlmProvider>, NodeError> {
        if let Some(provider) = self.provider.get() {
            return Ok(provider.clone());
        }
        let connector = runtime.llm_connector().ok_or_else(|| {
            NodeError::validation(
                "this build of ice has no LLM providers: build with the `llm` feature (on in the `ice` command) or register a connector",
            )
        })?;
        let provider = connector
            .connect(&Endpoint::from_config(&self.config))
            .map_err(NodeError::validation)?;
        Ok(self.provider.get_or_init(|| provider).clone())
    }
}

/// Sends one request with the run's budgets, streaming the text as
/// `node.progress` events and reporting tokens and cost.
pub(crate) async fn call_model(
    provider: &dyn LlmProvider,
    request: &ChatRequest,
    ctx: &NodeCtx<'_>,
) -> Result<ChatResponse, NodeError> {
    ctx.run.budget.charge_llm_call()?;
    let on_token = |token: &str| {
        ctx.run.emit(
            EventType::NodeProgress,
            Some(ctx.node_id),
            || json!({"token": token}),
        );
    };
    let response = provider.chat(request, &on_token).await?;
    let usage = response.usage;
    ctx.run.emit(EventType::TokenUpdate, Some(ctx.node_id), || {
        json!({"model": response.model, "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens})
    });
    ctx.run.emit(
        EventType::CostUpdate,
        Some(ctx.node_id),
        || json!({"cost": usage.cost}),
    );
    ctx.run.budget.charge_usage(usage)?;
    Ok(response)
}

/// A rendered template as prompt text: strings as they are, anything else
/// as JSON.
pub(crate) fn as_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
