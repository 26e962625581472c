//! The wasmtime engine that every code node shares: its configuration
//! (epoch interruption, a pooling instance allocator, a stack bound), the
//! epoch clock, and interpreter modules compiled once per machine and kept
//! as precompiled files beside the runtimes.

use crate::runtimes::{self, RuntimeFile};
use crate::SandboxError;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Module, OptLevel, PoolingAllocationConfig,
};

/// How often the epoch advances: the granularity of timeouts and of
/// cancellation.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The deepest the guest's native call stack may grow.
pub(crate) const MAX_WASM_STACK: usize = 8 << 20;

/// The engine and where its modules come from.
pub(crate) struct WasmEngine {
    engine: Engine,
    runtimes_dir: PathBuf,
}

impl WasmEngine {
    /// An engine whose epoch advances every [`EPOCH_TICK`] for as long as
    /// it lives.
    pub(crate) fn new(runtimes_dir: PathBuf, max_instances: u32) -> Result<Self, SandboxError> {
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_core_instances(max_instances)
            .total_memories(max_instances)
            .total_tables(max_instances)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            // CPython's function table has tens of thousands of entries.
            .table_elements(1 << 17);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            // Guests run synchronously, but the async support that WASI
            // brings bounds the stack all the same.
            .async_stack_size(MAX_WASM_STACK + (1 << 20))
            .cranelift_opt_level(OptLevel::Speed)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        let engine = Engine::new(&config).map_err(SandboxError::wasm)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("ice-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| SandboxError::Wasm(format!("cannot start the epoch clock: {e}")))?;
        Ok(WasmEngine {
            engine,
            runtimes_dir,
        })
    }

    /// The wasmtime engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The module of a runtime: its precompiled file when there is one for
    /// this engine, else compiled now (checksum first) and saved for next
    /// time.
    pub(crate) fn load(&self, runtime: &RuntimeFile) -> Result<Module, SandboxError> {
        let wasm = runtimes::locate(&self.runtimes_dir, runtime)?;
        let compiled = self.compiled_path(runtime);
        if compiled.is_file() {
            // SAFETY: the file was written by `precompile_module` of an engine
            // with the same compatibility hash (it is in the name), in the
            // user's own runtimes directory.
            if let Ok(module) = unsafe { Module::deserialize_file(&self.engine, &compiled) } {
                return Ok(module);
            }
        }
        let bytes = std::fs::read(&wasm)
            .map_err(|e| SandboxError::Wasm(format!("cannot read {}: {e}", wasm.display())))?;
        let actual = runtimes::sha256_hex(&bytes);
        if actual != runtime.sha256 {
            return Err(SandboxError::Checksum {
                file: wasm.display().to_string(),
                expected: runtime.sha256.into(),
                actual,
            });
        }
        let precompiled = self
            .engine
            .precompile_module(&bytes)
            .map_err(SandboxError::wasm)?;
        // A cache that cannot be written costs a compile next time, no more.
        if let Some(dir) = compiled.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = runtimes::write_atomically(&compiled, &precompiled);
        // SAFETY: the bytes come from `precompile_module` of this engine.
        unsafe { Module::deserialize(&self.engine, &precompiled) }.map_err(SandboxError::wasm)
    }

    /// Where the precompiled module of a runtime is kept for this engine.
    fn compiled_path(&self, runtime: &RuntimeFile) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        runtime.sha256.hash(&mut hasher);
        compiled_dir(&self.runtimes_dir).join(format!(
            "{}-{:016x}.cwasm",
            runtime.file_name.trim_end_matches(".wasm"),
            hasher.finish()
        ))
    }
}

fn compiled_dir(runtimes_dir: &Path) -> PathBuf {
    runtimes_dir.join("compiled")
}
