//! For the tests of this workspace: the runtimes, installed on first use.

use crate::{runtimes, WasmSandbox};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The runtimes directory with every runtime installed (fetched the first
/// time on a machine). Where they cannot be had it prints why the caller is
/// skipped and returns `None`, except under CI (`CI` set), where it panics.
pub fn runtimes_or_skip(what: &str) -> Option<PathBuf> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let dir = runtimes::default_dir();
        runtimes::ensure_installed(&dir)
            .map(|()| dir)
            .map_err(|e| e.to_string())
    });
    match ready {
        Ok(dir) => Some(dir.clone()),
        Err(e) if std::env::var_os("CI").is_some() => panic!("{what}: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {what} needs the code runtimes: {e}");
            None
        }
    }
}

/// One sandbox for the whole test process, as an application would have,
/// with the runtimes installed; `None` where they cannot be had (see
/// [`runtimes_or_skip`]).
pub fn sandbox_or_skip(what: &str) -> Option<Arc<WasmSandbox>> {
    static SANDBOX: OnceLock<Arc<WasmSandbox>> = OnceLock::new();
    if let Some(sandbox) = SANDBOX.get() {
        return Some(sandbox.clone());
    }
    let dir = runtimes_or_skip(what)?;
    Some(
        SANDBOX
            .get_or_init(|| Arc::new(WasmSandbox::with_runtimes_dir(dir)))
            .clone(),
    )
}
