//! Python code nodes: CPython 3.12 for WASI runs the prelude, which reads
//! the request from stdin.

use crate::guest::GuestState;
use ice_orchestrator::CodeRequest;
use serde_json::{json, Value};
use std::fmt::Write;
use wasmtime::{Instance, Store};

const PRELUDE: &str = include_str!("prelude/python.py");

/// The interpreter's command line: isolated (no environment, no user
/// site), no `site`, unbuffered so that prints reach `node.progress` as
/// they happen, and the prelude, which waits for its request on stdin.
pub(crate) fn command_line() -> Vec<String> {
    ["python", "-I", "-S", "-u", "-c", PRELUDE]
        .map(String::from)
        .to_vec()
}

/// What the prelude reads on stdin.
pub(crate) fn request(request: &CodeRequest, marker: &str) -> Vec<u8> {
    let literal = json!({
        "marker": marker,
        "code": &*request.source,
        "ctx": &request.ctx,
        "imports": &request.imports,
    });
    python_literal(&literal).into_bytes()
}

/// A JSON value as a Python literal (`None`, `True`, dicts, lists…), which
/// the prelude reads without importing `json`.
fn python_literal(value: &Value) -> String {
    let mut out = String::new();
    write_literal(value, &mut out);
    out
}

fn write_literal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        // JSON numbers and strings (as serde_json escapes them) are Python
        // literals too.
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_literal(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_literal(item, out);
            }
            out.push('}');
        }
    }
}

/// Runs the interpreter's `_start`; exiting with status 0 is a normal end.
pub(crate) fn start(store: &mut Store<GuestState>, instance: &Instance) -> wasmtime::Result<()> {
    let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
    match start.call(&mut *store, ()) {
        Err(e)
            if e.downcast_ref::<wasmtime_wasi::I32Exit>()
                .is_some_and(|x| x.0 == 0) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_the_same_python_literal() {
        let value = json!({"a": [null, true, false, 1, -2.5, "x\"y\\z\n\u{1}é"], "": {}});
        assert_eq!(
            python_literal(&value),
            r#"{"a":[None,True,False,1,-2.5,"x\"y\\z\n\u0001é"],"":{}}"#
        );
    }
}
