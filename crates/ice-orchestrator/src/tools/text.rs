//! `text_split` and `concat`.

use crate::error::NodeError;
use crate::tool::{arg, str_arg, u64_arg, Tool, ToolContext};
use async_trait::async_trait;
use serde_json::{json, Value};

/// Splits text into overlapping chunks.
pub struct TextSplit;

#[async_trait]
impl Tool for TextSplit {
    fn name(&self) -> &str {
        "text_split"
    }
    fn description(&self) -> &str {
        "Splits `text` into chunks of `chunk_size` characters overlapping by `overlap`."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "text": {"type": "string"},
            "chunk_size": {"type": "integer", "minimum": 1},
            "overlap": {"type": "integer", "minimum": 0}
        }, "required": ["text", "chunk_size"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"chunks": {"type": "array", "items": {"type": "string"}}}})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let text = str_arg(&args, "text")?;
        let size = u64_arg(&args, "chunk_size")?.unwrap_or(0) as usize;
        let overlap = u64_arg(&args, "overlap")?.unwrap_or(0) as usize;
        if size == 0 {
            return Err(NodeError::validation("`chunk_size` must be at least 1"));
        }
        if overlap >= size {
            return Err(NodeError::validation(format!(
                "`overlap` ({overlap}) must be smaller than `chunk_size` ({size})"
            )));
        }
        Ok(json!({ "chunks": split(text, size, overlap) }))
    }
}

/// Chunks of `size` characters, each starting `size - overlap` after the
/// previous; the last may be shorter.
fn split(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let step = size - overlap;
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let end = (start + size).min(chars.len());
        chunks.push(chars[start..end].iter().collect());
        if end == chars.len() {
            break;
        }
        start += step;
    }
    chunks
}

/// Joins items.
pub struct Concat;

#[async_trait]
impl Tool for Concat {
    fn name(&self) -> &str {
        "concat"
    }
    fn description(&self) -> &str {
        "Joins `items` (or their field `key`) with `sep`, or returns them as a list with `as_json_array`."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "items": {"type": "array"},
            "key": {"type": "string"},
            "sep": {"type": "string"},
            "as_json_array": {"type": "boolean"}
        }, "required": ["items"]})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let items = arg(&args, "items")?
            .as_array()
            .ok_or_else(|| NodeError::validation("argument `items` must be a list"))?;
        let key = args.get("key").and_then(Value::as_str);
        let picked: Vec<Value> = items
            .iter()
            .map(|item| match key {
                Some(k) => item.get(k).cloned().unwrap_or(Value::Null),
                None => item.clone(),
            })
            .collect();
        if args
            .get("as_json_array")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            return Ok(json!({ "items": picked }));
        }
        let sep = args.get("sep").and_then(Value::as_str).unwrap_or("\n");
        let text = picked
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(sep);
        Ok(json!({ "text": text }))
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn chunks_overlap_and_count_characters() {
        assert_eq!(split("abcdefg", 3, 1), vec!["abc", "cde", "efg"]);
        assert_eq!(split("abcdef", 4, 0), vec!["abcd", "ef"]);
        assert_eq!(split("ééééé", 2, 0), vec!["éé", "éé", "é"]);
        assert!(split("", 2, 0).is_empty());
    }
}
