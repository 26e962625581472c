//! `file_read` and `file_write`, confined to the workspace directory: no
//! absolute paths, no `..`, no way out through a symlink.

use crate::error::NodeError;
use crate::tool::{str_arg, Tool, ToolContext};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::{Component, Path, PathBuf};

fn io_error(what: &str, path: &str, e: std::io::Error) -> NodeError {
    NodeError::tool(format!("cannot {what} `{path}`: {e}"), false)
}

/// Checks the shape of `path` and joins it to the canonical workspace.
async fn confined(workspace: &Path, path: &str) -> Result<(PathBuf, PathBuf), NodeError> {
    let relative = Path::new(path);
    if path.is_empty() {
        return Err(NodeError::validation("argument `path` is empty"));
    }
    if relative.is_absolute() {
        return Err(NodeError::validation(format!(
            "`{path}` is absolute: file tools only take paths inside the workspace"
        )));
    }
    if relative
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(NodeError::validation(format!(
            "`{path}` contains `..`: file tools only take paths inside the workspace"
        )));
    }
    let root = tokio::fs::canonicalize(workspace)
        .await
        .map_err(|e| io_error("open the workspace", &workspace.display().to_string(), e))?;
    let joined = root.join(relative);
    Ok((root, joined))
}

/// Fails when `real` (a canonical path) lies outside `root`.
fn ensure_inside(root: &Path, real: &Path, path: &str) -> Result<(), NodeError> {
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(NodeError::validation(format!(
            "`{path}` leads outside the workspace (through a symlink)"
        )))
    }
}

/// Reads a text file of the workspace.
pub struct FileRead;

#[async_trait]
impl Tool for FileRead {
    fn name(&self) -> &str {
        "file_read"
    }
    fn description(&self) -> &str {
        "Reads the text file at `path` inside the workspace."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"content": {"type": "string"}}})
    }
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let path = str_arg(&args, "path")?;
        let (root, joined) = confined(ctx.workspace, path).await?;
        let real = tokio::fs::canonicalize(&joined)
            .await
            .map_err(|e| io_error("read", path, e))?;
        ensure_inside(&root, &real, path)?;
        let content = tokio::fs::read_to_string(&real)
            .await
            .map_err(|e| io_error("read", path, e))?;
        Ok(json!({ "content": content }))
    }
}

/// Writes a text file of the workspace, creating directories as needed.
pub struct FileWrite;

#[async_trait]
impl Tool for FileWrite {
    fn name(&self) -> &str {
        "file_write"
    }
    fn description(&self) -> &str {
        "Writes `content` to the file at `path` inside the workspace."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}}})
    }
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let path = str_arg(&args, "path")?;
        let content = match args.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Err(NodeError::validation("missing argument `content`")),
        };
        let (root, joined) = confined(ctx.workspace, path).await?;
        // The deepest existing ancestor must be inside the workspace before
        // anything is created below it.
        let mut existing = joined
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.clone());
        while !existing.exists() {
            existing = existing
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.clone());
        }
        let real_parent = tokio::fs::canonicalize(&existing)
            .await
            .map_err(|e| io_error("write", path, e))?;
        ensure_inside(&root, &real_parent, path)?;
        if let Some(parent) = joined.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| io_error("write", path, e))?;
        }
        if let Ok(real) = tokio::fs::canonicalize(&joined).await {
            ensure_inside(&root, &real, path)?;
        }
        tokio::fs::write(&joined, content.as_bytes())
            .await
            .map_err(|e| io_error("write", path, e))?;
        Ok(json!({ "path": path, "bytes": content.len() }))
    }
}
