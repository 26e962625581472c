//! `http_request` against a real HTTP server on loopback.

use ice_orchestrator::Workflow;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP/1.1 server: `/ok` answers JSON, `/flaky` answers 503 twice
/// then 200, `/slow` waits 2 s, `/missing` answers 404, `/echo` returns
/// the method, query and body it got.
async fn serve() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let counter = flaky_calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < pos + 4 + len {
                            let n = socket.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, String::from_utf8_lossy(&buf[pos + 4..]).into_owned());
                    }
                };
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let target = parts.next().unwrap_or_default().to_owned();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let (status, text) = match path {
                    "/ok" => (200, json!({"hello": "world"}).to_string()),
                    "/flaky" => {
                        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                            (503, "busy".to_owned())
                        } else {
                            (200, json!({"finally": true}).to_string())
                        }
                    }
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        (200, "late".to_owned())
                    }
                    "/echo" => (
                        200,
                        json!({"method": method, "query": query, "body": body}).to_string(),
                    ),
                    _ => (404, "not found".to_owned()),
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), flaky_calls)
}

fn node(id: &str, args: Value) -> Value {
    json!({"id": id, "type": "tool", "tool_name": "http_request", "tool_args": args})
}

#[tokio::test]
async fn a_get_returns_status_headers_body_and_json() {
    let (base, _) = serve().await;
    let wf = Workflow::from_value(json!([node("get", json!({"url": format!("{base}/ok")}))]));
    let result = wf.execute(json!({})).await.unwrap();
    assert!(result.success, "{:?}", result.error);
    let out = &result.output["get"];
    assert_eq!(out["status"], 200);
    assert_eq!(out["json"], json!({"hello": "world"}));
    assert_eq!(out["headers"]["content-type"], "application/json");
}

#[tokio::test]
async fn method_query_and_json_body_are_sent() {
    let (base, _) = serve().await;
    let wf = Workflow::from_value(json!([node(
        "post",
        json!({
            "method": "post", "url": format!("{base}/echo"), "query": {"q": "ice"}, "json": {"n": 1}
        })
    )]));
    let result = wf.execute(json!({})).await.unwrap();
    let echoed = &result.output["post"]["json"];
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["query"], "q=ice");
    assert_eq!(
        serde_json::from_str::<Value>(echoed["body"].as_str().unwrap()).unwrap(),
        json!({"n": 1})
    );
}

#[tokio::test]
async fn a_503_is_retried_until_it_succeeds() {
    let (base, calls) = serve().await;
    let mut flaky = node("flaky", json!({"url": format!("{base}/flaky")}));
    flaky["retry_policy"] =
        json!({"max_attempts": 3, "backoff_strategy": "fixed", "backoff_seconds": 0.01});
    let result = Workflow::from_value(json!([flaky]))
        .execute(json!({}))
        .await
        .unwrap();
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.nodes["flaky"].attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(result.output["flaky"]["json"], json!({"finally": true}));
}

#[tokio::test]
async fn a_404_fails_without_retrying() {
    let (base, _) = serve().await;
    let mut missing = node("missing", json!({"url": format!("{base}/missing")}));
    missing["retry_policy"] = json!({"max_attempts": 3, "backoff_seconds": 0});
    let result = Workflow::from_value(json!([missing]))
        .execute(json!({}))
        .await
        .unwrap();
    assert!(!result.success);
    assert_eq!(result.nodes["missing"].attempts, 1);
    assert!(result.nodes["missing"]
        .error
        .as_deref()
        .unwrap()
        .contains("404"));
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let (base, _) = serve().await;
    let wf = Workflow::from_value(json!([node(
        "slow",
        json!({"url": format!("{base}/slow"), "timeout_ms": 200})
    )]));
    let result = wf.execute(json!({})).await.unwrap();
    assert!(!result.success);
    assert!(
        result.nodes["slow"]
            .error
            .as_deref()
            .unwrap()
            .contains("timed out"),
        "{:?}",
        result.nodes["slow"].error
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let wf = Workflow::from_value(json!([node(
        "down",
        json!({"url": format!("http://{addr}/")})
    )]));
    let result = wf.execute(json!({})).await.unwrap();
    assert!(!result.success);
    assert!(result.nodes["down"]
        .error
        .as_deref()
        .unwrap()
        .contains(&addr.to_string()));
}
