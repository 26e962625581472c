//! `expr`, `template` and `jq`: tools that evaluate their raw argument.

use crate::error::NodeError;
use crate::tool::{arg, str_arg, Tool, ToolContext};
use async_trait::async_trait;
use ice_core::template::{cached_expression, context_from_json, CompiledTemplate};
use serde_json::{json, Value};
use std::sync::Arc;

/// The values a raw argument is evaluated against: `vars` when given, else
/// the node's input context.
fn scope(args: &Value, ctx: &ToolContext<'_>) -> Result<minijinja::Value, NodeError> {
    match args.get("vars") {
        None | Some(Value::Null) => Ok(context_from_json(Arc::new(ctx.context.to_json()))),
        Some(vars @ Value::Object(_)) => Ok(context_from_json(Arc::new(vars.clone()))),
        Some(other) => Err(NodeError::validation(format!(
            "argument `vars` must be an object, got {other}"
        ))),
    }
}

/// Evaluates an expression.
pub struct Expr;

#[async_trait]
impl Tool for Expr {
    fn name(&self) -> &str {
        "expr"
    }
    fn description(&self) -> &str {
        "Evaluates `expression` (Jinja expression syntax) against `vars` or the node's context."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"expression": {"type": "string"}, "vars": {"type": "object"}}, "required": ["expression"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"result": {}}})
    }
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let expression = cached_expression(str_arg(&args, "expression")?)?;
        let result = expression.eval(&scope(&args, ctx)?)?;
        Ok(json!({ "result": result }))
    }
}

/// Renders a template.
pub struct Template;

#[async_trait]
impl Tool for Template {
    fn name(&self) -> &str {
        "template"
    }
    fn description(&self) -> &str {
        "Renders `template` (Jinja, or {name} placeholders) against `vars` or the node's context."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"template": {"type": "string"}, "vars": {"type": "object"}}, "required": ["template"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"text": {"type": "string"}}})
    }
    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let template = CompiledTemplate::compile(str_arg(&args, "template")?)?;
        let text = template.render(&scope(&args, ctx)?)?;
        Ok(json!({ "text": text }))
    }
}

/// Runs a jq filter.
pub struct Jq;

#[async_trait]
impl Tool for Jq {
    fn name(&self) -> &str {
        "jq"
    }
    fn description(&self) -> &str {
        "Applies the jq `filter` to `input`; several results give a list."
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"input": {}, "filter": {"type": "string"}}, "required": ["input", "filter"]})
    }
    fn output_schema(&self) -> Value {
        json!({"type": "object", "properties": {"result": {}}})
    }
    async fn call(&self, args: Value, _ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let filter = str_arg(&args, "filter")?;
        let input = arg(&args, "input")?;
        let mut results = run_jq(filter, input)?;
        let result = if results.len() == 1 {
            results.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(results)
        };
        Ok(json!({ "result": result }))
    }
}

/// Runs `filter` on `input` with jaq, collecting every output.
fn run_jq(filter: &str, input: &Value) -> Result<Vec<Value>, NodeError> {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
    use jaq_json::Val;

    let program = File {
        code: filter,
        path: (),
    };
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader.load(&arena, program).map_err(|errs| {
        NodeError::validation(format!("jq filter `{filter}` does not parse: {errs:?}"))
    })?;
    let compiled = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            NodeError::validation(format!("jq filter `{filter}` does not compile: {errs:?}"))
        })?;
    let input = jaq_json::read::parse_single(input.to_string().as_bytes())
        .map_err(|e| NodeError::validation(format!("jq input: {e}")))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&compiled.lut, Vars::new([]));
    let mut out = Vec::new();
    for item in compiled.id.run((ctx, input)).map(unwrap_valr) {
        let val = item.map_err(|e| NodeError::tool(format!("jq: {e}"), false))?;
        let json: Value = serde_json::from_str(&val.to_string()).map_err(|e| {
            NodeError::tool(format!("jq produced a value that is not JSON: {e}"), false)
        })?;
        out.push(json);
    }
    Ok(out)
}
