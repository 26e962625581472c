//! Code nodes end to end: real CPython and QuickJS inside wasmtime, through
//! the engine. Missing runtimes are installed first (as `ice sandbox
//! install` does); where that cannot be done (no registry), these tests say
//! so and pass, except under CI, where they fail.

use ice_orchestrator::code::CodePolicy;
use ice_orchestrator::ice_core::event::EventType;
use ice_orchestrator::ice_core::result::{NodeStatus, RunResult};
use ice_orchestrator::{CodeLanguage, Runtime, RuntimeBuilder, Workflow};
use ice_sandbox::{testing, WasmSandbox};
use serde_json::{json, Value};
use std::sync::Arc;

fn sandbox() -> Option<Arc<WasmSandbox>> {
    testing::sandbox_or_skip("code node tests")
}

fn builder() -> Option<RuntimeBuilder> {
    Some(Runtime::builder().code_runner(sandbox()?))
}

async fn run_on(builder: RuntimeBuilder, doc: Value, inputs: Value) -> RunResult {
    Workflow::from_value(doc)
        .with_runtime(builder.build())
        .execute(inputs)
        .await
        .expect("the workflow is valid")
}

/// Runs one code node; `None` when the runtimes are not installed.
async fn run_code(node: Value, inputs: Value) -> Option<RunResult> {
    let mut node = node;
    node["id"] = json!("c");
    node["type"] = json!("code");
    Some(run_on(builder()?, json!([node]), inputs).await)
}

fn error_of(result: &RunResult) -> String {
    assert!(
        !result.success,
        "the node should have failed: {:?}",
        result.output
    );
    result.nodes["c"].error.clone().unwrap_or_default()
}

#[tokio::test]
async fn python_returns_from_main_or_output_with_the_standard_library() {
    let code = r#"
import json, re, math, datetime, collections
def main(ctx):
    words = re.findall(r"\w+", ctx["text"])
    return {
        "count": collections.Counter(words).most_common(1)[0],
        "root": math.isqrt(ctx["n"]),
        "day": datetime.date(2024, 2, 29).isoformat(),
        "json": json.dumps({"a": 1}),
    }
"#;
    let Some(result) = run_code(json!({"code": code}), json!({"text": "a b a", "n": 17})).await
    else {
        return;
    };
    assert!(result.success, "{:?}", result.nodes["c"].error);
    assert_eq!(
        *result.output["c"],
        json!({"count": ["a", 2], "root": 4, "day": "2024-02-29", "json": "{\"a\": 1}"})
    );
    let result = run_code(json!({"code": "output = ctx['n'] * 2"}), json!({"n": 21}))
        .await
        .unwrap();
    assert_eq!(*result.output["c"], json!({"result": 42}));
}

#[tokio::test]
async fn imports_are_made_available_to_the_code() {
    let node = json!({
        "code": "def main(ctx):\n    return {'h': hashlib.sha256(b'x').hexdigest()[:8], 'p': sqrt(16)}",
        "imports": ["hashlib", "from math import sqrt"],
    });
    let Some(result) = run_code(node, json!({})).await else {
        return;
    };
    assert!(result.success, "{:?}", result.nodes["c"].error);
    assert_eq!(*result.output["c"], json!({"h": "2d711642", "p": 4.0}));
    let missing = json!({"code": "output = 1", "imports": ["numpy_is_not_here"]});
    let error = error_of(&run_code(missing, json!({})).await.unwrap());
    assert!(error.contains("numpy_is_not_here"), "{error}");
}

#[tokio::test]
async fn javascript_returns_from_main_or_output() {
    let node = json!({
        "language": "javascript",
        "code": "function main(ctx) { return {sum: ctx.xs.reduce((a, b) => a + b, 0), up: ctx.s.toUpperCase()}; }",
    });
    let Some(result) = run_code(node, json!({"xs": [1, 2, 3], "s": "hé"})).await else {
        return;
    };
    assert!(result.success, "{:?}", result.nodes["c"].error);
    assert_eq!(*result.output["c"], json!({"sum": 6, "up": "HÉ"}));
    let node = json!({"language": "javascript", "code": "let output = {n: ctx.n + 1};"});
    let result = run_code(node, json!({"n": 1})).await.unwrap();
    assert_eq!(*result.output["c"], json!({"n": 2}));
}

#[tokio::test]
async fn printed_lines_become_progress_events_of_the_node() {
    let Some(builder) = builder() else {
        return;
    };
    let doc = json!([
        {"id": "py", "type": "code", "code": "import sys\nprint('one')\nprint('two', file=sys.stderr)\noutput = {}"},
        {"id": "js", "type": "code", "language": "javascript", "code": "console.log('three'); output = {};"}
    ]);
    let wf = Workflow::from_value(doc).with_runtime(builder.build());
    let mut handle = wf.start(json!({})).unwrap();
    let mut events = handle.events().unwrap();
    let mut printed = Vec::new();
    while let Some(e) = events.next_event().await {
        if e.event_type == EventType::NodeProgress {
            printed.push((
                e.node_id.clone().unwrap(),
                e.payload["stream"].as_str().unwrap().to_owned(),
                e.payload["text"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(handle.result().await.success);
    printed.sort();
    let expected = [
        ("js", "stdout", "three"),
        ("py", "stderr", "two"),
        ("py", "stdout", "one"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(printed, expected);
}

#[tokio::test]
async fn a_python_exception_is_reported_with_its_traceback() {
    let code = "def helper(x):\n    return 1 / x\n\ndef main(ctx):\n    return helper(0)\n";
    let Some(result) = run_code(json!({"code": code}), json!({})).await else {
        return;
    };
    let error = error_of(&result);
    assert!(
        error.starts_with("Traceback (most recent call last):"),
        "{error}"
    );
    assert!(error.contains("line 5, in main"), "{error}");
    assert!(error.contains("line 2, in helper"), "{error}");
    assert!(
        error.ends_with("ZeroDivisionError: division by zero"),
        "{error}"
    );
    assert!(
        !error.contains("_ice_"),
        "the prelude's frames leak: {error}"
    );

    let js = json!({"language": "javascript", "code": "function main() { null.x; }"});
    let error = error_of(&run_code(js, json!({})).await.unwrap());
    assert!(error.contains("TypeError"), "{error}");
    assert!(error.contains("main"), "{error}");

    let syntax = json!({"code": "def main(ctx)\n    return 1"});
    let error = error_of(&run_code(syntax, json!({})).await.unwrap());
    assert!(error.contains("SyntaxError"), "{error}");

    let exit = json!({"code": "import sys\nsys.exit(3)"});
    let error = error_of(&run_code(exit, json!({})).await.unwrap());
    assert_eq!(error, "the code called sys.exit(3)");

    let not_json = json!({"code": "output = {1, 2}"});
    let error = error_of(&run_code(not_json, json!({})).await.unwrap());
    assert!(error.starts_with("the output is not JSON"), "{error}");
}

#[tokio::test]
async fn code_sees_no_files_no_environment_no_network_and_no_processes() {
    let escapes = [
        ("open a file", "output = open('/etc/passwd').read()", "FileNotFoundError"),
        ("list /", "import os\noutput = os.listdir('/')", "FileNotFoundError"),
        (
            "open a socket",
            "import socket\ns = socket.create_connection(('127.0.0.1', 5432))\noutput = 'connected'",
            "Error",
        ),
        ("fork", "import os\noutput = os.fork()", "AttributeError"),
        (
            "run a program",
            "import subprocess\noutput = subprocess.run(['ls']).returncode",
            "Error",
        ),
    ];
    for (what, code, expected) in escapes {
        let Some(result) = run_code(json!({"code": code}), json!({})).await else {
            return;
        };
        let error = error_of(&result);
        assert!(error.contains(expected), "{what}: {error}");
    }
    let env = json!({"code": "import os\noutput = {'env': dict(os.environ)}"});
    let result = run_code(env, json!({})).await.unwrap();
    assert_eq!(
        *result.output["c"],
        json!({"env": {}}),
        "environment leaked"
    );
}

#[tokio::test]
async fn each_broken_limit_fails_only_its_node_and_names_the_limit() {
    let Some(builder) = builder() else {
        return;
    };
    let cases = [
        (
            "loop",
            json!({"code": "while True:\n    pass", "timeout_seconds": 1}),
            "timed out after 1s",
        ),
        (
            "memory",
            json!({"code": "chunks = []\nwhile True:\n    chunks.append(bytearray(100 * 2**20))", "memory_limit_mb": 64}),
            "memory limit of 64 MiB",
        ),
        (
            "huge",
            json!({"code": "ten_gib = [bytearray(2**30) for _ in range(10)]"}),
            "memory limit of 256 MiB",
        ),
        (
            "printer",
            json!({"code": "print('x' * 100_000_000)"}),
            "output limit of 1 MiB",
        ),
        (
            "recursion",
            json!({"code": "def f(n):\n    return f(n + 1)\noutput = f(0)"}),
            "RecursionError",
        ),
        (
            "js_loop",
            json!({"language": "javascript", "code": "for (;;) {}", "timeout_seconds": 1}),
            "timed out after 1s",
        ),
        (
            "js_memory",
            json!({"language": "javascript", "code": "const a = []; for (;;) a.push(new Array(1e6).fill(1));", "memory_limit_mb": 64}),
            "memory limit of 64 MiB",
        ),
        (
            "js_recursion",
            json!({"language": "javascript", "code": "function f(n) { return f(n + 1) + 1; } output = f(0);"}),
            "RangeError: Maximum call stack size exceeded",
        ),
        (
            "js_printer",
            json!({"language": "javascript", "code": "const s = 'x'.repeat(1e6); for (let i = 0; i < 100; i++) console.log(s);"}),
            "output limit of 1 MiB",
        ),
    ];
    let mut nodes: Vec<Value> = cases
        .iter()
        .map(|(id, node, _)| {
            let mut node = node.clone();
            node["id"] = json!(id);
            node["type"] = json!("code");
            node
        })
        .collect();
    nodes.push(json!({"id": "fine", "type": "code", "code": "output = {'ok': True}"}));
    let doc = json!({"nodes": nodes, "failure_policy": "always_continue"});
    let result = run_on(builder, doc, json!({})).await;
    for (id, _, expected) in cases {
        let node = &result.nodes[id];
        assert_eq!(node.status, NodeStatus::Failed, "{id} should fail");
        let error = node.error.clone().unwrap_or_default();
        assert!(
            error.contains(expected),
            "{id}: `{error}` should name `{expected}`"
        );
    }
    assert_eq!(result.nodes["fine"].status, NodeStatus::Succeeded);
    assert_eq!(*result.output["fine"], json!({"ok": true}));
}

#[tokio::test]
async fn gates_refuse_code_nodes_and_inline_code_and_snippets_resolve_by_name() {
    let Some(builder) = builder() else {
        return;
    };
    let off = builder.code_policy(CodePolicy {
        wasm_enabled: false,
        inline_enabled: true,
    });
    let result = run_on(
        off,
        json!([{"id": "c", "type": "code", "code": "output = 1"}]),
        json!({}),
    )
    .await;
    assert!(error_of(&result).contains("ICE_ENABLE_WASM=0"));

    let snippets = || {
        builder_or_panic()
            .code_snippet(
                "double",
                CodeLanguage::Python,
                "def main(ctx):\n    return {'y': ctx['x'] * 2}",
            )
            .code_policy(CodePolicy {
                wasm_enabled: true,
                inline_enabled: false,
            })
    };
    let inline = run_on(
        snippets(),
        json!([{"id": "c", "type": "code", "code": "output = 1"}]),
        json!({}),
    )
    .await;
    assert!(error_of(&inline).contains("ICE_ENABLE_INLINE_CODE=0"));
    let named = run_on(
        snippets(),
        json!([{"id": "c", "type": "code", "name": "double"}]),
        json!({"x": 4}),
    )
    .await;
    assert!(named.success, "{:?}", named.nodes["c"].error);
    assert_eq!(*named.output["c"], json!({"y": 8}));
}

fn builder_or_panic() -> RuntimeBuilder {
    builder().expect("checked by the caller")
}

#[tokio::test]
async fn nodes_run_at_once_and_cancellation_stops_the_code() {
    let Some(builder) = builder() else {
        return;
    };
    let nodes: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("n{i}"), "type": "code", "code": format!("output = {{'i': {i}}}")}))
        .collect();
    let result = run_on(builder, json!(nodes), json!({})).await;
    assert!(result.success);
    assert_eq!(*result.output["n5"], json!({"i": 5}));

    let wf = Workflow::from_value(
        json!([{"id": "spin", "type": "code", "code": "while True:\n    pass"}]),
    )
    .with_runtime(builder_or_panic().build());
    let handle = wf.start(json!({})).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    handle.cancel();
    let result = handle.result().await;
    assert!(!result.success);
    assert_eq!(result.nodes["spin"].status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn the_output_is_checked_against_the_output_schema() {
    let schema =
        json!({"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]});
    let good = json!({"code": "def main(ctx):\n    return {'sum': 5}", "output_schema": schema});
    let Some(result) = run_code(good, json!({})).await else {
        return;
    };
    assert!(result.success, "{:?}", result.nodes["c"].error);
    let bad =
        json!({"language": "javascript", "code": "output = {sum: '5'}", "output_schema": schema});
    let error = error_of(&run_code(bad, json!({})).await.unwrap());
    assert_eq!(
        error,
        "the output does not match the output_schema: $.sum: expected integer, got a string \"5\""
    );
}

#[tokio::test]
async fn the_code_page_of_the_guide_runs() {
    let Some(builder) = builder() else {
        return;
    };
    let runtime = builder
        .tool(ice_sandbox::CommandTool::new(ice_sandbox::CommandPolicy {
            allow: vec!["wc".into()],
        }))
        .build();
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/nodes/code.md"
    ))
    .unwrap();
    let blocks: Vec<&str> = page
        .split("```yaml")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 2);
    for block in blocks {
        let wf = Workflow::from_str(block)
            .unwrap()
            .with_runtime(runtime.clone());
        let result = wf
            .execute(json!({"items": [1, 2, 3], "text": "three short words"}))
            .await
            .unwrap();
        assert!(result.success, "{block}: {:?}", result.error);
    }
}

#[tokio::test]
async fn values_cross_the_boundary_intact() {
    let ctx = json!({"s": "é \" \\ \n \u{1} 😀", "n": [1, -2.5, 1e300, null, true], "deep": {"a": {"b": []}}});
    let node = json!({"code": "def main(ctx):\n    return {'echo': ctx, 'keys': {1: 'one', None: 'none', 2.5: 'f'}, 'tuple': (1, 2)}"});
    let Some(result) = run_code(node, ctx.clone()).await else {
        return;
    };
    assert!(result.success, "{:?}", result.nodes["c"].error);
    let out = &result.output["c"];
    assert_eq!(out["echo"]["s"], ctx["s"]);
    assert_eq!(out["echo"]["n"], ctx["n"]);
    assert_eq!(out["echo"]["deep"], ctx["deep"]);
    assert_eq!(out["keys"], json!({"1": "one", "null": "none", "2.5": "f"}));
    assert_eq!(out["tuple"], json!([1, 2]));
}
