//! `code` nodes: hand the program and the input context to the runtime's
//! [`CodeRunner`](crate::code::CodeRunner), with the operator's gates, the
//! node's limits and its printed output turned into `node.progress` events.

use crate::code::{CodeLanguage, CodeLimits, CodeRequest, PrintStream};
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use async_trait::async_trait;
use ice_core::event::EventType;
use ice_core::node::{NodeConfig, NodeKind};
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs `code` nodes.
pub struct CodeExecutor;

/// A code node, resolved.
struct PreparedCode {
    language: CodeLanguage,
    source: Arc<str>,
    /// True for inline `code`, false for a registered snippet.
    inline: bool,
    imports: Vec<String>,
    memory_bytes: Option<u64>,
}

#[async_trait]
impl NodeExecutor for CodeExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Code(c) = &node.kind else {
            return Err(format!("node `{}` is not a code node", node.id()).into());
        };
        if c.sandbox == Some(false) {
            return Err(
                "`sandbox: false` is not supported: code always runs in the WebAssembly sandbox"
                    .into(),
            );
        }
        let declared = c
            .language
            .as_deref()
            .map(|l| CodeLanguage::parse(Some(l)))
            .transpose()?;
        let (language, source, inline) = match (&c.code, &node.common.name) {
            (Some(code), _) => (
                declared.unwrap_or(CodeLanguage::Python),
                Arc::from(code.as_str()),
                true,
            ),
            (None, Some(name)) => {
                let snippet = ctx.env.runtime.code_snippet(name).ok_or_else(|| {
                    format!(
                        "no code snippet named `{name}` is registered, and the node has no `code`"
                    )
                })?;
                if let Some(declared) = declared.filter(|d| *d != snippet.language) {
                    return Err(format!(
                        "the code snippet `{name}` is {}, but the node says {declared}",
                        snippet.language
                    )
                    .into());
                }
                (snippet.language, snippet.source.clone(), false)
            }
            (None, None) => {
                return Err("a code node needs `code` or the `name` of a registered snippet".into())
            }
        };
        Ok(Some(Arc::new(PreparedCode {
            language,
            source,
            inline,
            imports: c.imports.clone(),
            memory_bytes: c.memory_limit_mb.map(|mb| mb << 20),
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let prepared: &PreparedCode = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("code node was not prepared"))?;
        let policy = ctx.runtime.code_policy();
        if !policy.wasm_enabled {
            return Err(NodeError::validation(
                "code nodes are disabled: ICE_ENABLE_WASM=0 turns off the WebAssembly sandbox",
            ));
        }
        if prepared.inline && !policy.inline_enabled {
            return Err(NodeError::validation(
                "inline code is disabled (ICE_ENABLE_INLINE_CODE=0): register the code as a snippet and give its `name`",
            ));
        }
        let runner = ctx.runtime.code_runner().ok_or_else(|| {
            NodeError::validation(
                "this build of ice has no code sandbox: build with the `wasm` feature (on in the `ice` command)",
            )
        })?;
        let defaults = ctx.runtime.code_limits();
        let request = CodeRequest {
            language: prepared.language,
            source: prepared.source.clone(),
            ctx: ctx.context().to_json(),
            imports: prepared.imports.clone(),
            limits: CodeLimits {
                timeout: Some(ctx.timeout),
                memory_bytes: prepared.memory_bytes.unwrap_or(defaults.memory_bytes),
                output_bytes: defaults.output_bytes,
            },
        };
        let print = |stream: PrintStream, text: &str| {
            ctx.run.emit(
                EventType::NodeProgress,
                Some(ctx.node_id),
                || json!({"stream": stream.as_str(), "text": text}),
            );
        };
        Ok(super::as_output(runner.run(request, &print).await?))
    }
}
