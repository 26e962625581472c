//! What the engine needs from a code sandbox: the [`CodeRunner`] trait that
//! `code` nodes call, and the policy that gates them. The WebAssembly runner
//! itself lives in the `ice-sandbox` crate and plugs in through
//! [`RuntimeBuilder::code_runner`](crate::RuntimeBuilder::code_runner).

use crate::error::NodeError;
use async_trait::async_trait;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A language that code nodes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeLanguage {
    /// CPython 3.12 (the default).
    Python,
    /// JavaScript (QuickJS).
    JavaScript,
}

impl CodeLanguage {
    /// Reads a node's `language` field (`None` means Python).
    pub fn parse(name: Option<&str>) -> Result<Self, String> {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None | Some("python") | Some("py") => Ok(CodeLanguage::Python),
            Some("javascript") | Some("js") => Ok(CodeLanguage::JavaScript),
            Some(other) => Err(format!(
                "unknown code language `{other}`; use `python` or `javascript`"
            )),
        }
    }

    /// The name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeLanguage::Python => "python",
            CodeLanguage::JavaScript => "javascript",
        }
    }
}

impl fmt::Display for CodeLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits one execution runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Wall-clock time; `None` leaves it to the node's timeout.
    pub timeout: Option<Duration>,
    /// Linear memory of the interpreter, in bytes.
    pub memory_bytes: u64,
    /// Printed output (stdout and stderr together), in bytes.
    pub output_bytes: u64,
}

impl Default for CodeLimits {
    /// 256 MiB of memory and 1 MiB of printed output.
    fn default() -> Self {
        CodeLimits {
            timeout: None,
            memory_bytes: 256 << 20,
            output_bytes: 1 << 20,
        }
    }
}

/// One execution of a code node.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    /// The language of `source`.
    pub language: CodeLanguage,
    /// The program: defines `main(ctx)` or assigns `output`.
    pub source: Arc<str>,
    /// The node's input context, seen by the code as `ctx`.
    pub ctx: Value,
    /// Extra modules to import before the code runs.
    pub imports: Vec<String>,
    /// The limits of this execution.
    pub limits: CodeLimits,
}

/// Which stream a printed line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl PrintStream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrintStream::Stdout => "stdout",
            PrintStream::Stderr => "stderr",
        }
    }
}

/// Receives the code's printed output, a line (or a long line's chunk) at a
/// time, while it runs.
pub type PrintSink<'a> = &'a (dyn Fn(PrintStream, &str) + Send + Sync);

/// Runs code in a sandbox.
///
/// Dropping the future returned by [`run`](CodeRunner::run) must stop the
/// execution: the engine drops it on timeouts and cancellation.
#[async_trait]
pub trait CodeRunner: Send + Sync + 'static {
    /// Runs one request; the output is the value of `main(ctx)` or of
    /// `output`. A failure names the limit that was broken or carries the
    /// program's own error (a Python traceback, say).
    async fn run(&self, request: CodeRequest, print: PrintSink<'_>) -> Result<Value, NodeError>;
}

/// Which code nodes an operator allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    /// Code nodes run at all (`ICE_ENABLE_WASM`, default on).
    pub wasm_enabled: bool,
    /// Inline `code` runs, not only registered snippets
    /// (`ICE_ENABLE_INLINE_CODE`, default on).
    pub inline_enabled: bool,
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            wasm_enabled: true,
            inline_enabled: true,
        }
    }
}

impl CodePolicy {
    /// The policy of the environment: `ICE_ENABLE_WASM` and
    /// `ICE_ENABLE_INLINE_CODE`, each off when set to `0`, `false`, `no` or
    /// `off`.
    pub fn from_env() -> Self {
        CodePolicy {
            wasm_enabled: env_flag("ICE_ENABLE_WASM"),
            inline_enabled: env_flag("ICE_ENABLE_INLINE_CODE"),
        }
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    })
}

/// A registered code snippet, run by code nodes that give its `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSnippet {
    /// Its language.
    pub language: CodeLanguage,
    /// Its program.
    pub source: Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_with_python_as_default() {
        assert_eq!(CodeLanguage::parse(None), Ok(CodeLanguage::Python));
        assert_eq!(
            CodeLanguage::parse(Some("JavaScript")),
            Ok(CodeLanguage::JavaScript)
        );
        let err = CodeLanguage::parse(Some("ruby")).unwrap_err();
        assert!(err.contains("ruby"), "{err}");
    }
}
