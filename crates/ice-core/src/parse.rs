//! From text to typed blueprint: JSON or YAML to a JSON value (with limits on
//! size and depth), then to [`Blueprint`] and [`NodeConfig`]s, collecting
//! every problem instead of stopping at the first.

use crate::blueprint::{Blueprint, BlueprintHeader, RunSettings, SCHEMA_VERSIONS};
use crate::diagnostic::{Code, Findings};
use crate::fields::{field_names, suggest};
use crate::node::*;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The largest document accepted, in bytes (`ICE_MAX_DOCUMENT_BYTES` overrides).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// The deepest nesting accepted in a document.
pub const MAX_DOCUMENT_DEPTH: usize = 64;

/// The format of a document's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl Format {
    /// The format by file extension, else by sniffing the first
    /// non-blank character (`{` or `[` = JSON).
    pub fn detect(path: Option<&str>, text: &str) -> Format {
        let ext = path
            .and_then(|p| p.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ => match text.trim_start().chars().next() {
                Some('{' | '[') => Format::Json,
                _ => Format::Yaml,
            },
        }
    }
}

fn max_document_bytes() -> usize {
    std::env::var("ICE_MAX_DOCUMENT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES)
}

/// Parses a document's text into a JSON value. Errors are `E_PARSE` with the
/// line and column where the parser stopped.
pub fn parse_text(text: &str, format: Format, f: &mut Findings) -> Option<Value> {
    let limit = max_document_bytes();
    if text.len() > limit {
        f.error(
            Code::Parse,
            None,
            "$",
            format!(
                "the document is {} bytes, over the limit of {limit} bytes (set ICE_MAX_DOCUMENT_BYTES to raise it)",
                text.len()
            ),
        );
        return None;
    }
    let parsed = match format {
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| {
            format!(
                "malformed JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        }),
        Format::Yaml => {
            serde_saphyr::from_str::<Value>(text).map_err(|e| format!("malformed YAML: {e}"))
        }
    };
    match parsed {
        Ok(value) if depth_exceeds(&value, MAX_DOCUMENT_DEPTH) => {
            f.error(
                Code::Parse,
                None,
                "$",
                format!("the document nests deeper than {MAX_DOCUMENT_DEPTH} levels"),
            );
            None
        }
        Ok(value) => Some(value),
        Err(message) => {
            f.error(Code::Parse, None, "$", message);
            None
        }
    }
}

/// True when `value` nests deeper than `limit` (iteratively, so that a deep
/// value cannot overflow the stack here).
fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    false
}

/// The top-level keys a blueprint may have (header, settings and `nodes`).
fn top_level_keys() -> Vec<&'static str> {
    let mut keys = field_names::<BlueprintHeader>().to_vec();
    keys.extend_from_slice(field_names::<RunSettings>());
    keys.push("nodes");
    keys
}

/// Parses a blueprint document (an object with `nodes`, or a bare list of
/// node configs). Returns `None` when anything is wrong; `f` then says what.
pub fn parse_blueprint(doc: &Value, f: &mut Findings) -> Option<Blueprint> {
    let errors_before = f.errors.len();
    let empty = Map::new();
    let (top, nodes) = match doc {
        Value::Array(nodes) => (&empty, nodes.as_slice()),
        Value::Object(map) => {
            let nodes = match map.get("nodes") {
                Some(Value::Array(nodes)) => nodes.as_slice(),
                Some(other) => {
                    f.error(
                        Code::InvalidField,
                        None,
                        "$.nodes",
                        format!(
                            "`nodes` must be a list of node configs, got {}",
                            kind_of(other)
                        ),
                    );
                    &[]
                }
                None => {
                    f.error(
                        Code::InvalidField,
                        None,
                        "$.nodes",
                        "missing required field `nodes`",
                    );
                    &[]
                }
            };
            (map, nodes)
        }
        other => {
            f.error(
                Code::Parse,
                None,
                "$",
                format!(
                    "a blueprint is an object with `nodes` or a list of node configs, got {}",
                    kind_of(other)
                ),
            );
            return None;
        }
    };
    let known = top_level_keys();
    let mut header_map = Map::new();
    let mut settings_map = Map::new();
    for (key, value) in top {
        if field_names::<BlueprintHeader>().contains(&key.as_str()) {
            header_map.insert(key.clone(), value.clone());
        } else if field_names::<RunSettings>().contains(&key.as_str()) {
            settings_map.insert(key.clone(), value.clone());
        } else if key != "nodes" {
            let hint = suggest(key, known.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            f.warn(
                Code::UnknownKey,
                None,
                format!("$.{key}"),
                format!("unknown top-level key `{key}` is ignored{hint}"),
            );
        }
    }
    let header: Option<BlueprintHeader> = typed(&Value::Object(header_map), "$", None, f);
    let settings: Option<RunSettings> = typed(&Value::Object(settings_map), "$", None, f);
    if let Some(version) = header.as_ref().and_then(|h| h.schema_version.as_deref()) {
        if !SCHEMA_VERSIONS.contains(&version) {
            f.error(
                Code::SchemaVersion,
                None,
                "$.schema_version",
                format!(
                    "schema_version `{version}` is not supported; use one of {}",
                    SCHEMA_VERSIONS.join(", ")
                ),
            );
        }
    }
    let base = if doc.is_array() { "$" } else { "$.nodes" };
    let parsed: Vec<Option<NodeConfig>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| parse_node(n, &format!("{base}[{i}]"), f))
        .collect();
    if f.errors.len() > errors_before {
        return None;
    }
    Some(Blueprint {
        header: header?,
        settings: settings?,
        nodes: parsed.into_iter().collect::<Option<Vec<_>>>()?,
    })
}

/// Deserialises `map` into `T`, recording an `E_INVALID_FIELD` with the
/// JSON path of the offending field on failure.
fn typed<'de, T: Deserialize<'de>>(
    value: &'de Value,
    path: &str,
    node: Option<&str>,
    f: &mut Findings,
) -> Option<T> {
    // The plain deserializer is the fast path; the path-tracking one runs
    // again only to say where a document is wrong.
    if let Ok(v) = T::deserialize(value) {
        return Some(v);
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(err) => {
            let field = err.path().to_string();
            let at = if field == "." {
                path.to_owned()
            } else {
                format!("{path}.{field}")
            };
            f.error(
                Code::InvalidField,
                node,
                at,
                format!("`{field}`: {}", err.into_inner()),
            );
            None
        }
    }
}

/// A short name of a JSON value's type, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The fields of a builtin node type, besides the common ones.
pub fn kind_fields(t: NodeType) -> &'static [&'static str] {
    static FIELDS: std::sync::LazyLock<Vec<&'static [&'static str]>> =
        std::sync::LazyLock::new(|| NodeType::ALL.into_iter().map(read_kind_fields).collect());
    FIELDS[NodeType::ALL.iter().position(|x| *x == t).unwrap_or(0)]
}

fn read_kind_fields(t: NodeType) -> &'static [&'static str] {
    match t {
        NodeType::Tool => field_names::<ToolNode>(),
        NodeType::Llm => field_names::<LlmNode>(),
        NodeType::Agent => field_names::<AgentNode>(),
        NodeType::Code => field_names::<CodeNode>(),
        NodeType::Condition => field_names::<ConditionNode>(),
        NodeType::Loop => field_names::<LoopNode>(),
        NodeType::Parallel => field_names::<ParallelNode>(),
        NodeType::Workflow => field_names::<WorkflowNode>(),
        NodeType::Recursive => field_names::<RecursiveNode>(),
        NodeType::Human => field_names::<HumanNode>(),
        NodeType::Monitor => field_names::<MonitorNode>(),
        NodeType::Swarm => field_names::<SwarmNode>(),
    }
}

/// The fields every node has.
pub fn common_fields() -> &'static [&'static str] {
    static FIELDS: std::sync::LazyLock<&'static [&'static str]> =
        std::sync::LazyLock::new(field_names::<NodeCommon>);
    *FIELDS
}

impl NodeConfig {
    /// Parses one node config, returning the first problem as text. Used for
    /// inline nodes and by library users; [`parse_node`] collects them all.
    pub fn from_value(value: &Value) -> Result<NodeConfig, String> {
        let mut f = Findings::default();
        match parse_node(value, "$", &mut f) {
            Some(node) => Ok(node),
            None => Err(f
                .errors
                .first()
                .map(ToString::to_string)
                .unwrap_or_else(|| "invalid node config".into())),
        }
    }
}

/// Parses one node config at `path`, recording every problem in `f`.
pub fn parse_node(value: &Value, path: &str, f: &mut Findings) -> Option<NodeConfig> {
    let Value::Object(map) = value else {
        f.error(
            Code::InvalidField,
            None,
            path,
            format!("a node config is an object, got {}", kind_of(value)),
        );
        return None;
    };
    let id = match map.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
        Some(other) => {
            f.error(
                Code::InvalidField,
                None,
                format!("{path}.id"),
                format!("`id` must be a non-empty string, got {}", kind_of(other)),
            );
            None
        }
        None => {
            f.error(
                Code::InvalidField,
                None,
                format!("{path}.id"),
                "missing required field `id`",
            );
            None
        }
    };
    let type_name = match map.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(other) => {
            f.error(
                Code::InvalidField,
                id,
                format!("{path}.type"),
                format!("`type` must be a string, got {}", kind_of(other)),
            );
            None
        }
        None => {
            f.error(
                Code::InvalidField,
                id,
                format!("{path}.type"),
                "missing required field `type`",
            );
            None
        }
    };
    let (id, type_name) = (id?, type_name?);
    let builtin = NodeType::from_name(type_name);
    let common_known = common_fields();
    let kind_known: &[&str] = builtin.map(kind_fields).unwrap_or(&[]);
    // Common and type fields are read from the same object: each struct
    // ignores the other's keys; keys neither knows are reported here.
    let mut ok = true;
    for key in map.keys() {
        let known = common_known.contains(&key.as_str())
            || builtin.is_none()
            || kind_known.contains(&key.as_str());
        if !known {
            ok = false;
            let hint = suggest(key, common_known.iter().chain(kind_known).copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            f.error(
                Code::UnknownField,
                Some(id),
                format!("{path}.{key}"),
                format!("unknown field `{key}` for a `{type_name}` node{hint}"),
            );
        }
    }
    let common: Option<NodeCommon> = typed(value, path, Some(id), f);
    let kind = match builtin {
        None => Some(NodeKind::Custom(
            map.iter()
                .filter(|(k, _)| !common_known.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
        Some(t) => {
            if !check_inline_lists(map, path, f) {
                return None;
            }
            parse_kind(t, value, path, id, f)
        }
    };
    if !ok {
        return None;
    }
    Some(NodeConfig {
        common: common?,
        kind: kind?,
    })
}

/// Parses the inline node lists of a control-flow node with full findings,
/// so that problems inside them are reported with their own codes and paths.
fn check_inline_lists(kind_map: &Map<String, Value>, path: &str, f: &mut Findings) -> bool {
    let before = f.errors.len();
    for key in ["true_path", "false_path", "body"] {
        if let Some(Value::Array(items)) = kind_map.get(key) {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    parse_node(item, &format!("{path}.{key}[{i}]"), f);
                }
            }
        }
    }
    if let Some(Value::Array(branches)) = kind_map.get("branches") {
        for (b, branch) in branches.iter().enumerate() {
            if let Value::Array(items) = branch {
                for (i, item) in items.iter().enumerate() {
                    parse_node(item, &format!("{path}.branches[{b}][{i}]"), f);
                }
            }
        }
    }
    f.errors.len() == before
}

fn parse_kind(
    t: NodeType,
    kind_map: &Value,
    path: &str,
    id: &str,
    f: &mut Findings,
) -> Option<NodeKind> {
    let node = Some(id);
    Some(match t {
        NodeType::Tool => NodeKind::Tool(typed(kind_map, path, node, f)?),
        NodeType::Llm => NodeKind::Llm(typed(kind_map, path, node, f)?),
        NodeType::Agent => NodeKind::Agent(typed(kind_map, path, node, f)?),
        NodeType::Code => NodeKind::Code(typed(kind_map, path, node, f)?),
        NodeType::Condition => NodeKind::Condition(typed(kind_map, path, node, f)?),
        NodeType::Loop => NodeKind::Loop(typed(kind_map, path, node, f)?),
        NodeType::Parallel => NodeKind::Parallel(typed(kind_map, path, node, f)?),
        NodeType::Workflow => NodeKind::Workflow(typed(kind_map, path, node, f)?),
        NodeType::Recursive => NodeKind::Recursive(typed(kind_map, path, node, f)?),
        NodeType::Human => NodeKind::Human(typed(kind_map, path, node, f)?),
        NodeType::Monitor => NodeKind::Monitor(typed(kind_map, path, node, f)?),
        NodeType::Swarm => NodeKind::Swarm(typed(kind_map, path, node, f)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(doc: Value) -> (Option<Blueprint>, Findings) {
        let mut f = Findings::default();
        let bp = parse_blueprint(&doc, &mut f);
        (bp, f)
    }

    #[test]
    fn bare_list_and_object_forms_parse() {
        let node = json!({"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"x": 1}});
        let (bp, f) = parse(json!([node.clone()]));
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(bp.unwrap().nodes[0].id(), "a");
        let (bp, _) = parse(json!({"schema_version": "1.1.0", "nodes": [node]}));
        assert!(matches!(bp.unwrap().nodes[0].kind, NodeKind::Tool(_)));
    }

    #[test]
    fn every_builtin_type_parses() {
        let nodes = json!([
            {"id": "t", "type": "tool", "tool_name": "echo"},
            {"id": "l", "type": "llm", "model": "m", "prompt": "p", "llm_config": {"provider": "openai", "temperature": 0.1}},
            {"id": "a", "type": "agent", "package": "p", "tools": ["echo"], "max_iterations": 3},
            {"id": "c", "type": "code", "code": "output = 1", "language": "python"},
            {"id": "cond", "type": "condition", "expression": "x > 1", "true_path": [{"id": "in", "type": "tool", "tool_name": "echo"}], "false_path": ["t"]},
            {"id": "lp", "type": "loop", "items_source": "inputs.items", "body": [{"id": "b", "type": "tool", "tool_name": "echo"}], "parallel": true},
            {"id": "p", "type": "parallel", "branches": [[{"id": "p1", "type": "tool", "tool_name": "echo"}]], "wait_strategy": {"n_of_m": 1}},
            {"id": "w", "type": "workflow", "workflow_ref": "child.yaml"},
            {"id": "r", "type": "recursive", "recursive_sources": ["t"], "workflow_ref": "x", "convergence_condition": "result.done"},
            {"id": "h", "type": "human", "approval_type": "choice", "choices": ["a", "b"], "timeout_seconds": 10},
            {"id": "m", "type": "monitor", "metric_expression": "total_cost > 1"},
            {"id": "s", "type": "swarm", "agents": [{"package": "a", "role": "x"}, {"package": "b", "role": "y"}]}
        ]);
        let (bp, f) = parse(nodes);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(bp.unwrap().nodes.len(), 12);
    }

    #[test]
    fn unknown_fields_are_named_with_a_suggestion() {
        let (_, f) =
            parse(json!([{"id": "d", "type": "tool", "tool_name": "echo", "tool_argz": {}}]));
        assert_eq!(f.errors[0].code, Code::UnknownField);
        assert_eq!(f.errors[0].node.as_deref(), Some("d"));
        assert_eq!(f.errors[0].path, "$[0].tool_argz");
        assert!(f.errors[0].message.contains("did you mean `tool_args`"));
    }

    #[test]
    fn wrong_types_point_at_the_field() {
        let (_, f) = parse(
            json!({"nodes": [{"id": "a", "type": "tool", "tool_name": "echo", "retries": "three"}]}),
        );
        assert_eq!(f.errors[0].code, Code::InvalidField);
        assert_eq!(f.errors[0].path, "$.nodes[0].retries");
    }

    #[test]
    fn inline_node_problems_keep_their_code_and_path() {
        let (_, f) = parse(
            json!([{"id": "c", "type": "condition", "expression": "1", "true_path": [{"id": "x", "type": "tool", "tool_name": "echo", "bogus": 1}]}]),
        );
        assert_eq!(f.errors[0].code, Code::UnknownField);
        assert_eq!(f.errors[0].path, "$[0].true_path[0].bogus");
    }

    #[test]
    fn legacy_retries_become_a_policy() {
        let (bp, _) = parse(
            json!([{"id": "a", "type": "tool", "tool_name": "echo", "retries": 2, "backoff_seconds": 0.5}]),
        );
        let policy = bp.unwrap().nodes[0].common.effective_retry();
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.backoff_seconds, 0.5);
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let mut f = Findings::default();
        assert!(parse_text("{\n  \"nodes\": [,]\n}", Format::Json, &mut f).is_none());
        assert!(
            f.errors[0].message.contains("line 2"),
            "{}",
            f.errors[0].message
        );
    }

    #[test]
    fn yaml_parses_and_deep_nesting_is_refused() {
        let mut f = Findings::default();
        let v = parse_text(
            "nodes:\n  - id: a\n    type: tool\n    tool_name: echo\n",
            Format::Yaml,
            &mut f,
        );
        assert!(v.is_some(), "{:?}", f.errors);
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_text(&deep, Format::Json, &mut f).is_none());
        assert_eq!(f.errors.last().unwrap().code, Code::Parse);
    }
}
