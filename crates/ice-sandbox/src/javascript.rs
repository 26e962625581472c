//! JavaScript code nodes: QuickJS-NG for WASI, in reactor form, evaluates
//! the prelude with the request written into it, through `qjs_init_argv`
//! (the engine's command line: memory limit, then `-e SCRIPT`).

use crate::guest::GuestState;
use crate::Launch;
use ice_orchestrator::CodeRequest;
use serde_json::Value;
use wasmtime::{Instance, Store};

const PRELUDE: &str = include_str!("prelude/javascript.js");

/// Room left to the interpreter itself beside the JavaScript heap.
const INTERPRETER_SHARE: u64 = 8 << 20;

/// The script and engine options of a JavaScript run.
pub(crate) fn launch(request: &CodeRequest, marker: &str) -> Launch {
    let literal = |v: &Value| v.to_string();
    let script = PRELUDE
        .replacen("ICE_MARKER", &literal(&Value::from(marker)), 1)
        .replacen("ICE_CTX", &literal(&request.ctx), 1)
        .replacen("ICE_CODE", &literal(&Value::from(&*request.source)), 1);
    let memory = request.limits.memory_bytes;
    let heap = if memory > 2 * INTERPRETER_SHARE {
        memory - INTERPRETER_SHARE
    } else {
        memory / 2
    };
    let argv: Vec<String> = vec![
        "qjs".into(),
        "--memory-limit".into(),
        heap.to_string(),
        "-e".into(),
        script,
    ];
    Launch {
        argv: vec!["qjs".into()],
        entry: Box::new(move |store, instance| init_with(store, instance, &argv)),
    }
}

/// Initialises the reactor and hands it the command line, which evaluates
/// the script.
fn init_with(
    store: &mut Store<GuestState>,
    instance: &Instance,
    argv: &[String],
) -> wasmtime::Result<()> {
    instance
        .get_typed_func::<(), ()>(&mut *store, "_initialize")?
        .call(&mut *store, ())?;
    let malloc = instance.get_typed_func::<i32, i32>(&mut *store, "malloc")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the JavaScript engine exports no memory"))?;
    let mut pointers = Vec::with_capacity(argv.len() * 4);
    for arg in argv {
        let mut bytes = arg.as_bytes().to_vec();
        bytes.push(0);
        let at = malloc.call(&mut *store, bytes.len() as i32)?;
        if at == 0 {
            wasmtime::bail!("out of memory while passing the script");
        }
        memory.write(&mut *store, at as usize, &bytes)?;
        pointers.extend_from_slice(&at.to_le_bytes());
    }
    let table = malloc.call(&mut *store, pointers.len() as i32)?;
    memory.write(&mut *store, table as usize, &pointers)?;
    let status = instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, "qjs_init_argv")?
        .call(&mut *store, (argv.len() as i32, table))?;
    if status != 0 {
        wasmtime::bail!("the JavaScript engine could not evaluate the script");
    }
    Ok(())
}
