//! The builtin tools (SPEC 2, tool), each with JSON Schemas of its
//! arguments and result.

mod basic;
mod eval;
mod files;
#[cfg(feature = "http")]
mod http;
mod text;

use crate::tool::ToolRegistry;
use std::sync::Arc;

/// Registers every builtin tool of this build.
pub fn register_builtins(registry: &mut ToolRegistry) {
    registry.register(Arc::new(basic::Echo));
    registry.register(Arc::new(basic::Sleep));
    registry.register(Arc::new(basic::Fail));
    registry.register(Arc::new(eval::Expr));
    registry.register(Arc::new(eval::Template));
    registry.register(Arc::new(eval::Jq));
    registry.register(Arc::new(files::FileRead));
    registry.register(Arc::new(files::FileWrite));
    registry.register(Arc::new(text::TextSplit));
    registry.register(Arc::new(text::Concat));
    #[cfg(feature = "http")]
    registry.register(Arc::new(http::HttpRequest::default()));
}
