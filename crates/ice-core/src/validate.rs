//! Validation (SPEC 6): every problem of a document at once, each with a
//! stable code, the node, the JSON path and a message.
//!
//! Graph checks run on the raw document, so that a node whose fields are
//! broken still takes part in the duplicate, dependency and cycle checks.
//! The other checks run on the typed [`Blueprint`].

use crate::blueprint::Blueprint;
use crate::diagnostic::{Code, Findings, ValidationReport};
use crate::graph;
use crate::node::*;
use crate::parse::{parse_blueprint, parse_text, Format};
use crate::template::{check_expression, check_template, expression_variables, template_variables};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What the engine has registered, for the checks that depend on it.
pub trait Catalog {
    /// True when a tool of that name is registered.
    fn has_tool(&self, name: &str) -> bool;
    /// True when a node of that type can run (builtin with an executor, or
    /// custom and registered).
    fn has_node_type(&self, type_name: &str) -> bool;
}

/// A catalog that knows the builtin node types and no tool: for checks of a
/// document alone.
pub struct BuiltinsOnly;

impl Catalog for BuiltinsOnly {
    fn has_tool(&self, _name: &str) -> bool {
        true
    }
    fn has_node_type(&self, type_name: &str) -> bool {
        NodeType::from_name(type_name).is_some()
    }
}

/// Arguments of builtin tools that the node does not render: the tool
/// evaluates them itself. `(tool, argument, how it is evaluated)`.
pub const RAW_TOOL_ARGS: [(&str, &str, RawArg); 3] = [
    ("expr", "expression", RawArg::Expression),
    ("template", "template", RawArg::Template),
    ("jq", "filter", RawArg::Jq),
];

/// How a raw tool argument is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawArg {
    /// An expression of SPEC 4.2.
    Expression,
    /// A template of SPEC 4.1.
    Template,
    /// A jq filter.
    Jq,
}

/// The raw arguments of a tool (see [`RAW_TOOL_ARGS`]).
pub fn raw_args(tool: &str) -> impl Iterator<Item = (&'static str, RawArg)> + '_ {
    RAW_TOOL_ARGS
        .iter()
        .filter(move |(t, _, _)| *t == tool)
        .map(|(_, arg, kind)| (*arg, *kind))
}

/// Parses and validates a document's text.
pub fn validate_text(
    text: &str,
    format: Format,
    catalog: &dyn Catalog,
) -> (Option<Blueprint>, ValidationReport) {
    let mut f = Findings::default();
    let Some(doc) = parse_text(text, format, &mut f) else {
        return (None, f.into_report());
    };
    validate_document(&doc, catalog, f)
}

/// Validates a parsed document, adding to the findings `f` already holds.
pub fn validate_document(
    doc: &Value,
    catalog: &dyn Catalog,
    mut f: Findings,
) -> (Option<Blueprint>, ValidationReport) {
    let blueprint = parse_blueprint(doc, &mut f);
    let nodes_value = match doc {
        Value::Array(_) => Some(doc),
        Value::Object(map) => map.get("nodes"),
        _ => None,
    };
    let base = if doc.is_array() { "$" } else { "$.nodes" };
    if let Some(Value::Array(nodes)) = nodes_value {
        let mut seen = HashMap::new();
        check_graph(nodes, base, catalog, &mut seen, &mut f);
    }
    if let Some(bp) = &blueprint {
        check_blueprint(bp, catalog, &mut f);
    }
    let report = f.into_report();
    let blueprint = if report.valid { blueprint } else { None };
    (blueprint, report)
}

/// The `id`, `dependencies` and recursive back edges of a raw node.
struct Skeleton<'a> {
    id: Option<&'a str>,
    deps: Vec<&'a str>,
    recursive_sources: Vec<&'a str>,
}

fn skeleton(node: &Value) -> Skeleton<'_> {
    let strings = |key: &str| -> Vec<&str> {
        node.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    Skeleton {
        id: node.get("id").and_then(Value::as_str),
        deps: strings("dependencies"),
        recursive_sources: if node.get("type").and_then(Value::as_str) == Some("recursive") {
            strings("recursive_sources")
        } else {
            Vec::new()
        },
    }
}

/// Duplicate ids (across the whole document), missing and self
/// dependencies and cycles (per node list), recursing into inline lists.
fn check_graph(
    nodes: &[Value],
    base: &str,
    catalog: &dyn Catalog,
    seen: &mut HashMap<String, String>,
    f: &mut Findings,
) {
    let skeletons: Vec<Skeleton> = nodes.iter().map(skeleton).collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in skeletons.iter().enumerate() {
        let Some(id) = s.id else { continue };
        let path = format!("{base}[{i}]");
        if let Some(first) = seen.get(id) {
            f.error(
                Code::DuplicateId,
                Some(id),
                format!("{path}.id"),
                format!("duplicate node id `{id}` (first at {first})"),
            );
        } else {
            seen.insert(id.to_owned(), path);
        }
        index.entry(id).or_insert(i);
    }
    // Back edges declared by recursive nodes are not part of the DAG.
    let back_edges = graph::back_edges(
        skeletons
            .iter()
            .filter_map(|s| s.id.map(|id| (id, s.recursive_sources.as_slice()))),
    );
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); skeletons.len()];
    for (i, s) in skeletons.iter().enumerate() {
        let Some(id) = s.id else { continue };
        for (j, dep) in s.deps.iter().enumerate() {
            let path = format!("{base}[{i}].dependencies[{j}]");
            if *dep == id {
                f.error(
                    Code::SelfDependency,
                    Some(id),
                    path,
                    format!("node `{id}` depends on itself"),
                );
            } else if let Some(&d) = index.get(dep) {
                if !back_edges.contains(&(id, *dep)) {
                    deps[i].push(d);
                }
            } else {
                let hint = crate::fields::suggest(dep, index.keys().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                f.error(
                    Code::MissingDependency,
                    Some(id),
                    path,
                    format!(
                        "node `{id}` depends on `{dep}`, which is not a node of this list{hint}"
                    ),
                );
            }
        }
    }
    if let Err(cycle) = graph::levels(&deps) {
        let names: Vec<&str> = cycle.iter().filter_map(|&i| skeletons[i].id).collect();
        let first = names.first().copied().unwrap_or("?");
        let mut shown = names.join(" -> ");
        shown.push_str(&format!(" -> {first}"));
        f.error(
            Code::Cycle,
            Some(first),
            format!("{base}[{}].dependencies", cycle[0]),
            format!("dependency cycle: {shown} (only a recursive node may close a cycle)"),
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        if let (Some(type_name), id) = (node.get("type").and_then(Value::as_str), skeletons[i].id) {
            check_node_type(type_name, id, &format!("{base}[{i}].type"), catalog, f);
        }
        for key in ["true_path", "false_path", "body"] {
            if let Some(Value::Array(items)) = node.get(key) {
                let inline: Vec<Value> = items.iter().filter(|v| v.is_object()).cloned().collect();
                if !inline.is_empty() {
                    check_graph(&inline, &format!("{base}[{i}].{key}"), catalog, seen, f);
                }
            }
        }
        if let Some(Value::Array(branches)) = node.get("branches") {
            for (b, branch) in branches.iter().enumerate() {
                if let Value::Array(items) = branch {
                    check_graph(
                        items,
                        &format!("{base}[{i}].branches[{b}]"),
                        catalog,
                        seen,
                        f,
                    );
                }
            }
        }
    }
}

fn check_node_type(
    type_name: &str,
    id: Option<&str>,
    path: &str,
    catalog: &dyn Catalog,
    f: &mut Findings,
) {
    if catalog.has_node_type(type_name) {
        return;
    }
    let message = if NodeType::from_name(type_name).is_some() {
        format!("node type `{type_name}` has no executor in this build")
    } else {
        let hint = crate::fields::suggest(type_name, NodeType::ALL.iter().map(|t| t.as_str()))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        format!("unknown node type `{type_name}`{hint}")
    };
    f.error(Code::UnknownNodeType, id, path, message);
}

/// Names a node's templates may read, besides run inputs.
#[derive(Clone, Default)]
struct Scope {
    /// Names provided by enclosing scopes (loop variables, parent context).
    names: HashSet<String>,
}

fn check_blueprint(bp: &Blueprint, catalog: &dyn Catalog, f: &mut Findings) {
    let declared_inputs: Option<HashSet<String>> = if bp.header.inputs.is_empty() {
        None
    } else {
        Some(bp.header.inputs.keys().cloned().collect())
    };
    let top_ids: HashSet<&str> = bp.nodes.iter().map(NodeConfig::id).collect();
    let ctx = CheckContext {
        catalog,
        declared_inputs: declared_inputs.as_ref(),
        top_ids: &top_ids,
    };
    let top: Vec<&NodeConfig> = bp.nodes.iter().collect();
    check_list(&top, "$.nodes", &Scope::default(), &ctx, f);
    for (name, value) in &bp.header.outputs {
        if let Some(s) = value.as_str() {
            if let Err(e) = check_template(s) {
                f.error(
                    Code::TemplateSyntax,
                    None,
                    format!("$.outputs.{name}"),
                    e.message,
                );
            } else {
                for var in template_variables(s) {
                    if !top_ids.contains(var.as_str()) && var != "inputs" && !ctx.declared(&var) {
                        f.warn(
                            Code::TemplateVariable,
                            None,
                            format!("$.outputs.{name}"),
                            format!(
                                "`{var}` in output `{name}` is not a node id or a declared input"
                            ),
                        );
                    }
                }
            }
        }
    }
}

struct CheckContext<'a> {
    catalog: &'a dyn Catalog,
    declared_inputs: Option<&'a HashSet<String>>,
    top_ids: &'a HashSet<&'a str>,
}

impl CheckContext<'_> {
    fn declared(&self, name: &str) -> bool {
        self.declared_inputs.is_some_and(|d| d.contains(name))
    }
}

fn check_list(
    nodes: &[&NodeConfig],
    base: &str,
    scope: &Scope,
    ctx: &CheckContext,
    f: &mut Findings,
) {
    let by_id: HashMap<&str, &NodeConfig> = nodes.iter().map(|n| (n.id(), *n)).collect();
    for (i, node) in nodes.iter().enumerate() {
        let path = format!("{base}[{i}]");
        check_node(node, &path, &by_id, scope, ctx, f);
    }
}

fn check_node(
    node: &NodeConfig,
    path: &str,
    siblings: &HashMap<&str, &NodeConfig>,
    scope: &Scope,
    ctx: &CheckContext,
    f: &mut Findings,
) {
    let id = node.id();
    let c = &node.common;
    check_common_ranges(c, path, f);
    for (key, schema) in [
        ("input_schema", &c.input_schema),
        ("output_schema", &c.output_schema),
    ] {
        if let Err(message) = check_schema(schema) {
            f.error(
                Code::InvalidSchema,
                Some(id),
                format!("{path}.{key}"),
                message,
            );
        }
    }
    // Names this node's templates may read.
    let mut names = scope.names.clone();
    names.extend(c.dependencies.iter().cloned());
    names.extend(c.input_mappings.keys().cloned());
    names.insert("inputs".into());
    for (key, mapping) in &c.input_mappings {
        if let InputMapping::FromNode {
            source_node_id,
            source_output_key,
        } = mapping
        {
            let at = format!("{path}.input_mappings.{key}");
            if !c.dependencies.contains(source_node_id) {
                f.error(Code::MappingNotDependency, Some(id), at.clone(), format!("input mapping `{key}` reads node `{source_node_id}`, which is not a dependency of `{id}`"));
            }
            if let Some(source) = siblings.get(source_node_id.as_str()) {
                check_mapping_schema(
                    source,
                    source_output_key,
                    key,
                    &node.common.input_schema,
                    id,
                    &at,
                    f,
                );
            }
        }
    }
    for field in templated_fields(node) {
        let at = format!("{path}{}", field.path);
        let vars = match field.analyse() {
            Ok(vars) => vars,
            Err((code, e)) => {
                f.error(code, Some(id), at, e.message);
                continue;
            }
        };
        if !field.checks_context {
            continue;
        }
        for var in vars {
            if names.contains(&var) || ctx.declared(&var) || field.own_names.contains(&var.as_str())
            {
                continue;
            }
            let message = format!("`{var}` is not provided by a dependency, an input mapping or a declared input of node `{id}`");
            if ctx.declared_inputs.is_some() {
                f.error(Code::TemplateVariable, Some(id), at.clone(), message);
            } else {
                f.warn(
                    Code::TemplateVariable,
                    Some(id),
                    at.clone(),
                    format!("{message}; it must be a run input"),
                );
            }
        }
    }
    match &node.kind {
        NodeKind::Tool(t) if !ctx.catalog.has_tool(&t.tool_name) => {
            f.error(
                Code::UnknownTool,
                Some(id),
                format!("{path}.tool_name"),
                format!("unknown tool `{}` (see `ice tools list`)", t.tool_name),
            );
        }
        NodeKind::Condition(cond) => {
            for (key, items) in [
                ("true_path", &cond.true_path),
                ("false_path", &cond.false_path),
            ] {
                for (i, item) in items.iter().enumerate() {
                    if let PathItem::Name(name) = item {
                        if !ctx.top_ids.contains(name.as_str()) {
                            f.error(
                                Code::MissingDependency,
                                Some(id),
                                format!("{path}.{key}[{i}]"),
                                format!(
                                    "{key} of `{id}` names `{name}`, which is not a top-level node"
                                ),
                            );
                        }
                    }
                }
            }
        }
        NodeKind::Loop(l) if l.items_source.is_none() && l.until.is_none() => {
            f.error(
                Code::NodeConfig,
                Some(id),
                path,
                format!("loop `{id}` needs `items_source`, `until`, or both"),
            );
        }
        NodeKind::Recursive(r) => {
            if r.agent_package.is_some() == r.workflow_ref.is_some() {
                f.error(Code::NodeConfig, Some(id), path, format!("recursive node `{id}` needs exactly one of `agent_package` and `workflow_ref`"));
            }
            if r.recursive_sources.is_empty() {
                f.error(
                    Code::NodeConfig,
                    Some(id),
                    format!("{path}.recursive_sources"),
                    format!("recursive node `{id}` needs at least one recursive source"),
                );
            }
            for (i, src) in r.recursive_sources.iter().enumerate() {
                if !siblings.contains_key(src.as_str()) {
                    f.error(
                        Code::MissingDependency,
                        Some(id),
                        format!("{path}.recursive_sources[{i}]"),
                        format!("recursive source `{src}` is not a node of this list"),
                    );
                }
            }
        }
        NodeKind::Human(h) => {
            if h.approval_type.as_deref() == Some("choice")
                && h.choices.as_ref().map_or(0, Vec::len) < 2
            {
                f.error(
                    Code::NodeConfig,
                    Some(id),
                    format!("{path}.choices"),
                    format!("human node `{id}` of type `choice` needs at least 2 choices"),
                );
            }
            if let (Some(auto), Some(timeout)) = (h.auto_approve_after, c.timeout_seconds) {
                if auto >= timeout {
                    f.error(
                        Code::NodeConfig,
                        Some(id),
                        format!("{path}.auto_approve_after"),
                        format!(
                            "auto_approve_after ({auto}) must be below timeout_seconds ({timeout})"
                        ),
                    );
                }
            }
        }
        NodeKind::Swarm(s) => {
            if s.agents.len() < 2 {
                f.error(
                    Code::NodeConfig,
                    Some(id),
                    format!("{path}.agents"),
                    format!("swarm `{id}` needs at least 2 agents"),
                );
            }
            let mut roles = HashSet::new();
            for (i, agent) in s.agents.iter().enumerate() {
                if let Some(role) = agent.get("role").and_then(Value::as_str) {
                    if !roles.insert(role) {
                        f.error(
                            Code::NodeConfig,
                            Some(id),
                            format!("{path}.agents[{i}].role"),
                            format!("role `{role}` appears twice in swarm `{id}`"),
                        );
                    }
                }
            }
        }
        NodeKind::Code(code) => {
            if code.sandbox == Some(false) {
                f.error(
                    Code::NodeConfig,
                    Some(id),
                    format!("{path}.sandbox"),
                    format!("code node `{id}` sets `sandbox: false`; code always runs sandboxed"),
                );
            }
            if code.code.is_none() && c.name.is_none() {
                f.error(
                    Code::NodeConfig,
                    Some(id),
                    path,
                    format!("code node `{id}` needs `code` or the `name` of a registered snippet"),
                );
            }
        }
        _ => {}
    }
    // Inline lists see this node's names plus their own scope variables.
    for (key, list) in node.inline_lists() {
        let mut inner = Scope {
            names: names.clone(),
        };
        inner.names.insert(id.to_owned());
        if let NodeKind::Loop(l) = &node.kind {
            inner
                .names
                .insert(l.item_var.clone().unwrap_or_else(|| "item".into()));
            inner
                .names
                .insert(l.index_var.clone().unwrap_or_else(|| "index".into()));
        }
        check_list(&list, &format!("{path}.{key}"), &inner, ctx, f);
    }
}

/// How a templated field is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A template (SPEC 4.1).
    Template,
    /// An expression (SPEC 4.2).
    Expression,
    /// A dotted path into the context.
    Path,
}

/// One templated string of a node.
#[derive(Debug, Clone)]
pub struct TemplatedField<'a> {
    /// The JSON path below the node (`.tool_args.x`).
    pub path: String,
    /// The text.
    pub text: &'a str,
    /// How it is evaluated.
    pub kind: FieldKind,
    /// Whether its variables come from the node's context (false for raw
    /// tool arguments evaluated against `vars`).
    pub checks_context: bool,
    /// Names the field itself provides (`result`, loop variables…).
    pub own_names: Vec<&'a str>,
}

impl TemplatedField<'_> {
    /// The root variables the field reads unguarded, or its syntax error
    /// with the code to report it under.
    pub fn analyse(&self) -> Result<Vec<String>, (Code, crate::template::TemplateError)> {
        match self.kind {
            FieldKind::Template => check_template(self.text)
                .map(|()| template_variables(self.text))
                .map_err(|e| (Code::TemplateSyntax, e)),
            FieldKind::Expression => check_expression(self.text)
                .map(|()| expression_variables(self.text))
                .map_err(|e| (Code::ExpressionSyntax, e)),
            FieldKind::Path => Ok(vec![self
                .text
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned()]),
        }
    }
}

/// Every templated string of a node (not of its inline lists): the one
/// walk over node fields that validation and planning share.
pub fn templated_fields(node: &NodeConfig) -> Vec<TemplatedField<'_>> {
    let mut out = Vec::new();
    let field = |path: String, text, kind, own_names: Vec<&'static str>| TemplatedField {
        path,
        text,
        kind,
        checks_context: true,
        own_names,
    };
    match &node.kind {
        NodeKind::Tool(t) => {
            let has_vars = t.tool_args.contains_key("vars");
            for (arg, value) in &t.tool_args {
                let path = format!(".tool_args.{arg}");
                match (
                    raw_args(&t.tool_name).find(|(a, _)| a == arg),
                    value.as_str(),
                ) {
                    (Some((_, raw)), Some(text)) => {
                        let kind = match raw {
                            RawArg::Expression => FieldKind::Expression,
                            RawArg::Template => FieldKind::Template,
                            RawArg::Jq => continue,
                        };
                        out.push(TemplatedField {
                            checks_context: !has_vars,
                            ..field(path, text, kind, vec![])
                        });
                    }
                    (Some(_), None) => {}
                    (None, _) => collect_strings(value, path, &mut |path, text| {
                        out.push(field(path, text, FieldKind::Template, vec![]))
                    }),
                }
            }
        }
        NodeKind::Llm(l) => {
            out.push(field(
                ".prompt".into(),
                &l.prompt,
                FieldKind::Template,
                vec![],
            ));
            out.push(field(
                ".model".into(),
                &l.model,
                FieldKind::Template,
                vec![],
            ));
        }
        NodeKind::Condition(c) => out.push(field(
            ".expression".into(),
            &c.expression,
            FieldKind::Expression,
            vec![],
        )),
        NodeKind::Loop(l) => {
            if let Some(src) = &l.items_source {
                let kind = if src.contains('{') {
                    FieldKind::Template
                } else {
                    FieldKind::Path
                };
                out.push(field(".items_source".into(), src, kind, vec![]));
            }
            if let Some(until) = &l.until {
                let mut names = vec!["result"];
                names.push(l.item_var.as_deref().unwrap_or("item"));
                names.push(l.index_var.as_deref().unwrap_or("index"));
                out.push(TemplatedField {
                    own_names: names,
                    ..field(".until".into(), until, FieldKind::Expression, vec![])
                });
            }
        }
        NodeKind::Recursive(r) => {
            if let Some(cond) = &r.convergence_condition {
                out.push(field(
                    ".convergence_condition".into(),
                    cond,
                    FieldKind::Expression,
                    vec!["result", "iteration", "history"],
                ));
            }
        }
        NodeKind::Monitor(m) => out.push(field(
            ".metric_expression".into(),
            &m.metric_expression,
            FieldKind::Expression,
            vec![
                "total_tokens",
                "total_cost",
                "elapsed_seconds",
                "failed_nodes",
                "llm_calls",
                "nodes",
            ],
        )),
        _ => {}
    }
    out
}

/// Calls `visit` with the path and text of every string leaf of `value`.
fn collect_strings<'a>(value: &'a Value, path: String, visit: &mut dyn FnMut(String, &'a str)) {
    match value {
        Value::String(s) => visit(path, s),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_strings(v, format!("{path}[{i}]"), visit);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                collect_strings(v, format!("{path}.{k}"), visit);
            }
        }
        _ => {}
    }
}

fn check_common_ranges(c: &NodeCommon, path: &str, f: &mut Findings) {
    let id = Some(c.id.as_str());
    if let Some(t) = c.timeout_seconds {
        if t.is_nan() || t < 1.0 {
            f.error(
                Code::InvalidField,
                id,
                format!("{path}.timeout_seconds"),
                format!("timeout_seconds must be at least 1, got {t}"),
            );
        }
    }
    if c.backoff_seconds < 0.0 {
        f.error(
            Code::InvalidField,
            id,
            format!("{path}.backoff_seconds"),
            "backoff_seconds must not be negative",
        );
    }
    if let Some(p) = &c.retry_policy {
        if p.max_attempts < 1 {
            f.error(
                Code::InvalidField,
                id,
                format!("{path}.retry_policy.max_attempts"),
                "max_attempts must be at least 1",
            );
        }
        if p.backoff_seconds < 0.0 || p.max_backoff_seconds < 0.0 {
            f.error(
                Code::InvalidField,
                id,
                format!("{path}.retry_policy"),
                "backoff seconds must not be negative",
            );
        }
    }
}

/// The iceOS "simple" schema type names.
const SIMPLE_TYPES: [&str; 12] = [
    "str", "string", "int", "integer", "float", "number", "bool", "boolean", "dict", "object",
    "list", "any",
];

/// The JSON Schema type names.
const JSON_TYPES: [&str; 7] = [
    "string", "integer", "number", "boolean", "object", "array", "null",
];

/// Checks a JSON Schema or an iceOS simple schema.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return match schema {
            Value::Null => Ok(()),
            other => Err(format!(
                "a schema is an object, got {}",
                crate::parse::kind_of(other)
            )),
        };
    };
    if map.is_empty() {
        return Ok(());
    }
    if is_simple_schema(schema) {
        for (field, t) in map {
            let t = t.as_str().unwrap_or_default();
            if simple_type(t).is_none() {
                return Err(format!(
                    "field `{field}` has unknown simple type `{t}` (use one of {})",
                    SIMPLE_TYPES.join(", ")
                ));
            }
        }
        return Ok(());
    }
    if let Some(t) = map.get("type") {
        let names: Vec<&Value> = match t {
            Value::Array(list) => list.iter().collect(),
            other => vec![other],
        };
        for n in names {
            match n.as_str() {
                Some(s) if JSON_TYPES.contains(&s) => {}
                _ => {
                    return Err(format!(
                        "`type` must be one of {}, got {n}",
                        JSON_TYPES.join(", ")
                    ))
                }
            }
        }
    }
    if let Some(props) = map.get("properties") {
        let Value::Object(props) = props else {
            return Err("`properties` must be an object".into());
        };
        for (name, sub) in props {
            check_schema(sub).map_err(|e| format!("property `{name}`: {e}"))?;
        }
    }
    if let Some(req) = map.get("required") {
        if !req
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
        {
            return Err("`required` must be a list of strings".into());
        }
    }
    Ok(())
}

/// True for the iceOS simple form: an object whose values are all strings
/// and which has no JSON Schema keyword.
pub fn is_simple_schema(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    const KEYWORDS: [&str; 8] = [
        "type",
        "properties",
        "required",
        "items",
        "$schema",
        "anyOf",
        "oneOf",
        "enum",
    ];
    !map.is_empty()
        && map.values().all(Value::is_string)
        && !map.keys().any(|k| KEYWORDS.contains(&k.as_str()))
}

/// The JSON type of an iceOS simple type name (`list[str]` → array).
pub fn simple_type(t: &str) -> Option<&'static str> {
    let base = t.split('[').next().unwrap_or(t).trim();
    Some(match base {
        "str" | "string" => "string",
        "int" | "integer" => "integer",
        "float" | "number" => "number",
        "bool" | "boolean" => "boolean",
        "dict" | "object" | "Dict" => "object",
        "list" | "List" | "array" => "array",
        "any" | "Any" => "any",
        _ => return None,
    })
}

/// The JSON type a schema gives a top-level field, if it says.
fn field_type(schema: &Value, field: &str) -> Option<String> {
    if is_simple_schema(schema) {
        return schema
            .get(field)
            .and_then(Value::as_str)
            .and_then(simple_type)
            .map(str::to_owned);
    }
    schema
        .get("properties")?
        .get(field)?
        .get("type")?
        .as_str()
        .map(str::to_owned)
}

/// `E_MAPPING_KEY` and `E_EDGE_SCHEMA` for one input mapping.
fn check_mapping_schema(
    source: &NodeConfig,
    key_path: &str,
    placeholder: &str,
    target_schema: &Value,
    id: &str,
    at: &str,
    f: &mut Findings,
) {
    let schema = &source.common.output_schema;
    let first = key_path.split('.').next().unwrap_or_default();
    if first.is_empty() || first == "." || schema.as_object().is_none_or(|m| m.is_empty()) {
        return;
    }
    let declares = if is_simple_schema(schema) {
        Some(schema.get(first).is_some())
    } else {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.contains_key(first))
    };
    if declares == Some(false) {
        f.error(
            Code::MappingKey,
            Some(id),
            at,
            format!(
                "`{}` has no output field `{first}` in its output_schema",
                source.id()
            ),
        );
        return;
    }
    if key_path.contains('.') {
        return;
    }
    if let (Some(from), Some(to)) = (
        field_type(schema, first),
        field_type(target_schema, placeholder),
    ) {
        let compatible =
            from == to || to == "any" || from == "any" || (from == "integer" && to == "number");
        if !compatible {
            f.error(
                Code::EdgeSchema,
                Some(id),
                at,
                format!(
                    "`{}.{first}` is {from} but `{id}` expects `{placeholder}` to be {to}",
                    source.id()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(doc: Value) -> Vec<Code> {
        validate_document(&doc, &BuiltinsOnly, Findings::default())
            .1
            .error_codes()
    }

    #[test]
    fn reports_every_graph_problem_at_once() {
        let doc = json!([
            {"id": "a", "type": "tool", "tool_name": "echo", "dependencies": ["b"]},
            {"id": "b", "type": "tool", "tool_name": "echo", "dependencies": ["a"]},
            {"id": "c", "type": "tool", "tool_name": "echo", "dependencies": ["ghost"]},
            {"id": "c", "type": "tool", "tool_name": "echo"},
            {"id": "d", "type": "tool", "tool_name": "echo", "tool_argz": {}},
            {"id": "e", "type": "teleport"},
            {"id": "f", "type": "tool", "tool_name": "echo", "dependencies": ["f"]}
        ]);
        let got = codes(doc);
        for code in [
            Code::Cycle,
            Code::MissingDependency,
            Code::DuplicateId,
            Code::UnknownField,
            Code::UnknownNodeType,
            Code::SelfDependency,
        ] {
            assert!(got.contains(&code), "{code} missing from {got:?}");
        }
    }

    #[test]
    fn a_cycle_is_printed() {
        let doc = json!([
            {"id": "a", "type": "tool", "tool_name": "echo", "dependencies": ["c"]},
            {"id": "b", "type": "tool", "tool_name": "echo", "dependencies": ["a"]},
            {"id": "c", "type": "tool", "tool_name": "echo", "dependencies": ["b"]}
        ]);
        let report = validate_document(&doc, &BuiltinsOnly, Findings::default()).1;
        assert!(
            report.errors[0].message.contains("->"),
            "{}",
            report.errors[0].message
        );
    }

    #[test]
    fn a_recursive_back_edge_is_not_a_cycle() {
        let doc = json!([
            {"id": "draft", "type": "tool", "tool_name": "echo", "dependencies": ["loop"]},
            {"id": "loop", "type": "recursive", "dependencies": ["draft"], "recursive_sources": ["draft"], "workflow_ref": "x", "convergence_condition": "result.ok"}
        ]);
        assert!(!codes(doc).contains(&Code::Cycle));
    }

    #[test]
    fn template_and_expression_problems() {
        let doc = json!({"inputs": {"name": {"type": "string"}}, "nodes": [
            {"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"x": "{{ name + }}"}},
            {"id": "b", "type": "tool", "tool_name": "echo", "tool_args": {"x": "{{ nobody }}"}},
            {"id": "c", "type": "condition", "expression": "score >"},
            {"id": "d", "type": "tool", "tool_name": "echo", "tool_args": {"x": "{{ name }} {{ ghost | default(1) }}"}}
        ]});
        let got = codes(doc);
        assert_eq!(
            got,
            vec![
                Code::TemplateSyntax,
                Code::TemplateVariable,
                Code::ExpressionSyntax
            ]
        );
    }

    #[test]
    fn undeclared_variables_are_warnings_without_declared_inputs() {
        let doc = json!([{"id": "b", "type": "tool", "tool_name": "echo", "tool_args": {"x": "{{ maybe_input }}"}}]);
        let report = validate_document(&doc, &BuiltinsOnly, Findings::default()).1;
        assert!(report.valid);
        assert_eq!(report.warnings[0].code, Code::TemplateVariable);
    }

    #[test]
    fn mapping_checks() {
        let doc = json!([
            {"id": "src", "type": "tool", "tool_name": "echo", "output_schema": {"count": "int", "name": "str"}},
            {"id": "other", "type": "tool", "tool_name": "echo"},
            {"id": "t", "type": "tool", "tool_name": "echo", "dependencies": ["src"], "input_schema": {"n": "str"},
             "input_mappings": {
                "n": {"source_node_id": "src", "source_output_key": "count"},
                "m": {"source_node_id": "src", "source_output_key": "missing"},
                "o": {"source_node_id": "other", "source_output_key": ""}
             }}
        ]);
        assert_eq!(
            codes(doc),
            vec![
                Code::EdgeSchema,
                Code::MappingKey,
                Code::MappingNotDependency
            ]
        );
    }

    #[test]
    fn node_rules_and_schemas() {
        let doc = json!([
            {"id": "h", "type": "human", "approval_type": "choice", "choices": ["one"]},
            {"id": "s", "type": "swarm", "agents": [{"package": "a", "role": "x"}]},
            {"id": "r", "type": "recursive", "recursive_sources": ["h"]},
            {"id": "x", "type": "tool", "tool_name": "echo", "input_schema": {"a": "strr"}},
            {"id": "t", "type": "tool", "tool_name": "echo", "timeout_seconds": 0}
        ]);
        let got = codes(doc);
        assert_eq!(
            got,
            vec![
                Code::NodeConfig,
                Code::NodeConfig,
                Code::NodeConfig,
                Code::InvalidSchema,
                Code::InvalidField
            ]
        );
    }

    #[test]
    fn schema_version_is_checked() {
        assert_eq!(
            codes(json!({"schema_version": "9.9", "nodes": []})),
            vec![Code::SchemaVersion]
        );
    }
}
