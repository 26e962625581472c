//! Python code nodes: CPython 3.12 for WASI runs the prelude, which reads
//! the request from stdin.

use crate::guest::GuestState;
use crate::Launch;
use ice_orchestrator::CodeRequest;
use serde_json::json;
use wasmtime::{Instance, Store};

const PRELUDE: &str = include_str!("prelude/python.py");

/// The command line and stdin of a Python run.
pub(crate) fn launch(request: &CodeRequest, marker: &str) -> Launch {
    let stdin = json!({
        "marker": marker,
        "code": &*request.source,
        "ctx": &request.ctx,
        "imports": &request.imports,
    });
    Launch {
        // Isolated (no environment, no user site), no `site`, unbuffered so
        // that prints reach `node.progress` as they happen.
        argv: ["python", "-I", "-S", "-u", "-c", PRELUDE]
            .map(String::from)
            .to_vec(),
        stdin: stdin.to_string().into_bytes(),
        entry: Box::new(start),
    }
}

/// Runs the interpreter's `_start`; exiting with status 0 is a normal end.
fn start(store: &mut Store<GuestState>, instance: &Instance) -> wasmtime::Result<()> {
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
