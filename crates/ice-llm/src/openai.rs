//! The OpenAI chat completions protocol (`POST {base}/chat/completions`),
//! spoken by OpenAI and by every compatible server (DeepSeek, Groq,
//! Ollama, vLLM, llama.cpp…). Answers stream as server-sent events; text
//! goes to the token sink as it arrives, tool calls are assembled from
//! their deltas.

use crate::prices;
use async_trait::async_trait;
use ice_orchestrator::error::{ErrorKind, NodeError};
use ice_orchestrator::llm::{
    ChatMessage, ChatRequest, ChatResponse, LlmProvider, Role, TokenSink, ToolCall, Usage,
};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// A provider speaking the OpenAI protocol at one base URL.
pub struct OpenAiCompatible {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    max_retries: u32,
}

impl OpenAiCompatible {
    /// A provider at `base_url` (`https://api.openai.com/v1`, say), with
    /// a per-request `timeout` and `max_retries` for 429, 5xx and
    /// transport failures.
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<String>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(OpenAiCompatible {
            client,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            max_retries,
        })
    }

    async fn send(&self, body: &Value, on_token: TokenSink<'_>) -> Result<ChatResponse, NodeError> {
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let retryable = status.as_u16() == 429 || status.is_server_error();
            return Err(NodeError::new(
                ErrorKind::Http,
                format!("the model provider answered {status}: {}", excerpt(&text)),
            )
            .with_retryable(retryable));
        }
        let mut stream = EventStream::default();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            stream.feed(&chunk, on_token)?;
        }
        stream.finish()
    }
}

#[async_trait]
impl LlmProvider for OpenAiCompatible {
    async fn chat(
        &self,
        request: &ChatRequest,
        on_token: TokenSink<'_>,
    ) -> Result<ChatResponse, NodeError> {
        let body = request_body(request);
        let mut attempt = 0;
        loop {
            match self.send(&body, on_token).await {
                Err(e) if e.retryable && attempt < self.max_retries => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 << attempt.min(6))).await;
                }
                Ok(mut response) => {
                    response.usage.cost = prices::cost(&response.model, &response.usage);
                    return Ok(response);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn transport_error(e: reqwest::Error) -> NodeError {
    if e.is_timeout() {
        NodeError::new(
            ErrorKind::Timeout,
            format!("the model provider did not answer in time: {e}"),
        )
    } else {
        NodeError::new(
            ErrorKind::Transport,
            format!("cannot reach the model provider: {e}"),
        )
    }
}

/// The first 300 characters of an error body.
fn excerpt(text: &str) -> &str {
    match text.char_indices().nth(300) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The request as the protocol wants it.
pub(crate) fn request_body(request: &ChatRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "messages".into(),
        request.messages.iter().map(message_json).collect(),
    );
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let s = &request.sampling;
    let optional = [
        ("temperature", s.temperature.map(Value::from)),
        ("max_tokens", s.max_tokens.map(Value::from)),
        ("top_p", s.top_p.map(Value::from)),
        ("frequency_penalty", s.frequency_penalty.map(Value::from)),
        ("presence_penalty", s.presence_penalty.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    }
    if !s.stop.is_empty() {
        body.insert("stop".into(), json!(s.stop));
    }
    if let Some(schema) = &request.json_schema {
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}),
        );
    }
    body.insert("stream".into(), Value::Bool(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    for (key, value) in &s.extra {
        body.insert(key.clone(), value.clone());
    }
    Value::Object(body)
}

fn message_json(message: &ChatMessage) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut m = json!({"role": role, "content": message.content});
    if !message.tool_calls.is_empty() {
        m["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        m["tool_call_id"] = json!(id);
    }
    m
}

/// A tool call while its deltas arrive.
#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Reads a streamed answer: `data: {chunk}` lines until `data: [DONE]`.
/// A server that ignores `stream` and answers with one JSON body is read
/// too.
#[derive(Default)]
struct EventStream {
    pending: Vec<u8>,
    text: String,
    calls: Vec<PartialCall>,
    model: String,
    usage: Usage,
    /// The whole body, when it is not an event stream.
    plain: Vec<u8>,
    done: bool,
}

impl EventStream {
    fn feed(&mut self, bytes: &[u8], on_token: TokenSink<'_>) -> Result<(), NodeError> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            match line.strip_prefix("data:").map(str::trim) {
                Some("[DONE]") => self.done = true,
                Some(data) => {
                    let chunk: Value =
                        serde_json::from_str(data).map_err(|e| protocol_error(&e))?;
                    self.chunk(&chunk, on_token)?;
                }
                None => self.plain.extend_from_slice(line.as_bytes()),
            }
        }
        Ok(())
    }

    fn chunk(&mut self, chunk: &Value, on_token: TokenSink<'_>) -> Result<(), NodeError> {
        if let Some(error) = chunk.get("error") {
            return Err(NodeError::new(
                ErrorKind::Http,
                format!("the model provider failed: {error}"),
            ));
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str) {
            self.model = model.to_owned();
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = usage_of(usage);
        }
        let Some(delta) = chunk.pointer("/choices/0/delta") else {
            return Ok(());
        };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                on_token(text);
                self.text.push_str(text);
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if self.calls.len() <= index {
                self.calls.resize_with(index + 1, PartialCall::default);
            }
            let partial = &mut self.calls[index];
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                partial.id = id.to_owned();
            }
            let function = call.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                partial.name.push_str(name);
            }
            if let Some(args) = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
            {
                partial.arguments.push_str(args);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ChatResponse, NodeError> {
        if !self.done && self.text.is_empty() && self.calls.is_empty() {
            self.plain.extend_from_slice(&self.pending);
            let body: Value =
                serde_json::from_slice(&self.plain).map_err(|e| protocol_error(&e))?;
            return complete_response(&body);
        }
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| tool_call(i, c.id, c.name, &c.arguments))
            .collect::<Result<_, _>>()?;
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            model: self.model,
            usage: self.usage,
        })
    }
}

/// An answer given as one JSON body (`stream` ignored).
fn complete_response(body: &Value) -> Result<ChatResponse, NodeError> {
    let message = body
        .pointer("/choices/0/message")
        .ok_or_else(|| protocol_error(&"no choices[0].message"))?;
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let text = |p: &str| {
                c.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            tool_call(
                i,
                text("/id"),
                text("/function/name"),
                &text("/function/arguments"),
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(ChatResponse {
        text: message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        tool_calls,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        usage: body.get("usage").map(usage_of).unwrap_or_default(),
    })
}

fn tool_call(
    index: usize,
    id: String,
    name: String,
    arguments: &str,
) -> Result<ToolCall, NodeError> {
    let arguments = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            NodeError::tool(
                format!("the model called `{name}` with arguments that are not JSON: {e}"),
                true,
            )
        })?
    };
    Ok(ToolCall {
        id: if id.is_empty() {
            format!("call_{index}")
        } else {
            id
        },
        name,
        arguments,
    })
}

fn usage_of(usage: &Value) -> Usage {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (prompt, completion) = (n("prompt_tokens"), n("completion_tokens"));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: usage
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(prompt + completion),
        cost: 0.0,
    }
}

fn protocol_error(e: &dyn std::fmt::Display) -> NodeError {
    NodeError::new(
        ErrorKind::Transport,
        format!("the model provider's answer does not follow the chat completions protocol: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ice_orchestrator::llm::{Sampling, ToolSpec};

    #[test]
    fn streamed_text_and_tool_calls_are_assembled_across_chunks() {
        let tokens = std::sync::Mutex::new(Vec::new());
        let sink = |t: &str| tokens.lock().unwrap().push(t.to_owned());
        let mut s = EventStream::default();
        let body = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\",\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"echo\",\"arguments\":\"{\\\"va\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"lue\\\": 1}\"}}]}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        // Split mid-line, as a network would.
        for piece in body.as_bytes().chunks(7) {
            s.feed(piece, &sink).unwrap();
        }
        let r = s.finish().unwrap();
        assert_eq!(r.text, "Hello");
        assert_eq!(*tokens.lock().unwrap(), ["Hel", "lo"]);
        assert_eq!(
            r.tool_calls,
            [ToolCall {
                id: "c1".into(),
                name: "echo".into(),
                arguments: json!({"value": 1})
            }]
        );
        assert_eq!(
            (
                r.usage.prompt_tokens,
                r.usage.total_tokens,
                r.model.as_str()
            ),
            (3, 5, "m")
        );
    }

    #[test]
    fn a_whole_json_answer_is_read_too() {
        let mut s = EventStream::default();
        let body = json!({"model": "m", "choices": [{"message": {"content": "hi", "tool_calls": [{"id": "x", "function": {"name": "t", "arguments": "{}"}}]}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        s.feed(body.to_string().as_bytes(), &|_| {}).unwrap();
        let r = s.finish().unwrap();
        assert_eq!(
            (
                r.text.as_str(),
                r.tool_calls[0].name.as_str(),
                r.usage.total_tokens
            ),
            ("hi", "t", 2)
        );
    }

    #[test]
    fn the_request_carries_tools_sampling_schema_and_tool_results() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage {
                    tool_calls: vec![ToolCall {
                        id: "c".into(),
                        name: "t".into(),
                        arguments: json!({"a": 1}),
                    }],
                    ..ChatMessage::new(Role::Assistant, "")
                },
                ChatMessage::tool_result("c", "42"),
            ],
            tools: vec![ToolSpec {
                name: "t".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
            sampling: Sampling {
                temperature: Some(0.2),
                stop: vec!["END".into()],
                ..Sampling::default()
            },
            json_schema: Some(json!({"type": "object"})),
        };
        let body = request_body(&request);
        assert_eq!(
            body["messages"][0]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(
            body["messages"][1],
            json!({"role": "tool", "content": "42", "tool_call_id": "c"})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "t");
        assert_eq!(
            (body["temperature"].clone(), body["stop"].clone()),
            (json!(0.2), json!(["END"]))
        );
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["stream"], true);
    }
}
