//! A chat completions server on loopback that speaks the OpenAI protocol
//! (streamed or not), for tests and demos without a model. It answers from
//! a script, then echoes; it records every request it gets.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum MockReply {
    /// Text, streamed word by word.
    Text(String),
    /// Tool calls: (tool name, arguments).
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error with this status and body.
    Status(u16, String),
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<MockReply>>,
    requests: Mutex<Vec<Value>>,
}

/// The running server; it stops when dropped.
pub struct MockLlm {
    base_url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl MockLlm {
    /// Starts a server on a free loopback port that answers with `script`
    /// in order, then with `echo: <last user message>`.
    pub async fn start(script: Vec<MockReply>) -> std::io::Result<MockLlm> {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            ..Shared::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockLlm {
            base_url,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT/v1`, for `llm_config.base_url` or
    /// `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().expect("requests").clone()
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn complete(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    shared.requests.lock().expect("requests").push(body.clone());
    let reply = shared
        .script
        .lock()
        .expect("script")
        .pop_front()
        .unwrap_or_else(|| MockReply::Text(format!("echo: {}", last_user_message(&body))));
    let model = body["model"].as_str().unwrap_or("mock").to_owned();
    let prompt_tokens = body["messages"].to_string().len() as u64 / 4;
    let (text, calls) = match reply {
        MockReply::Status(status, text) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, text).into_response();
        }
        MockReply::Text(text) => (text, Vec::new()),
        MockReply::ToolCalls(calls) => (String::new(), calls),
    };
    let completion_tokens = text.split_whitespace().count() as u64 + calls.len() as u64 * 10;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens});
    if body["stream"] == true {
        let events = stream_events(&model, &text, &calls, &usage);
        ([(header::CONTENT_TYPE, "text/event-stream")], events).into_response()
    } else {
        let tool_calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
            .collect();
        let mut message = json!({"role": "assistant", "content": text});
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        Json(json!({"id": "mock", "object": "chat.completion", "model": model, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage})).into_response()
    }
}

/// The answer as server-sent events: a chunk per word, each tool call in
/// two chunks (name, then arguments), the usage, `[DONE]`.
fn stream_events(model: &str, text: &str, calls: &[(String, Value)], usage: &Value) -> String {
    let mut chunks = Vec::new();
    let delta = |d: Value| json!({"id": "mock", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": d}]});
    for (i, word) in text.split_inclusive(' ').enumerate() {
        let mut d = json!({"content": word});
        if i == 0 {
            d["role"] = json!("assistant");
        }
        chunks.push(delta(d));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let args = args.to_string();
        let (head, tail) = args.split_at(args.len() / 2);
        chunks.push(delta(json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function", "function": {"name": name, "arguments": head}}]})));
        chunks.push(delta(
            json!({"tool_calls": [{"index": i, "function": {"arguments": tail}}]}),
        ));
    }
    chunks.push(json!({"id": "mock", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}));
    let mut out: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    out.push_str("data: [DONE]\n\n");
    out
}

fn last_user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}
