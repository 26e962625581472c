//! Templates and expressions (SPEC 4), on minijinja.
//!
//! Strings in templated fields are classified once ([`Templated::parse`]):
//! a plain literal, exactly one `{{ expression }}` or `{name}` (which keeps
//! its JSON type), or mixed text (rendered to a string). Values that hold
//! templates are compiled into a [`ValueTemplate`] tree once per workflow and
//! rendered per node against a context [`minijinja::Value`].
//!
//! Undefined variables are errors (minijinja's semi-strict mode), except
//! where the template tests for them (`is defined`, `default`, `or`).

use crate::json_view::{jinja_to_json, json_to_jinja};
use crate::simple_expr::SimpleExpr;
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};

/// Instructions one render may execute; a template that loops forever fails
/// with an error instead of hanging.
pub const TEMPLATE_FUEL: u64 = 20_000_000;

/// Templates kept compiled in the process-wide cache before new ones are
/// rendered without caching.
const TEMPLATE_CACHE_LIMIT: usize = 50_000;

/// A template or expression problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, with the template's text.
    pub message: String,
}

impl TemplateError {
    fn new(message: impl Into<String>) -> Self {
        TemplateError {
            message: message.into(),
        }
    }

    fn from_jinja(source: &str, err: &minijinja::Error) -> Self {
        let detail = err
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}", err.kind()));
        TemplateError::new(format!("{detail} in `{source}`"))
    }
}

/// Applies ice's settings to a minijinja environment: semi-strict undefined,
/// fuel, no auto-escaping, and JSON-style printing of booleans, null,
/// objects and lists.
fn configure(env: &mut Environment<'static>) {
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_formatter(|out, state, value| {
        use minijinja::value::ValueKind;
        match value.kind() {
            ValueKind::Bool => out.write_str(if value.is_true() { "true" } else { "false" })?,
            ValueKind::None => out.write_str("null")?,
            ValueKind::Map | ValueKind::Seq | ValueKind::Iterable => {
                let json = jinja_to_json(value).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.message)
                })?;
                out.write_str(&json.to_string())?
            }
            _ => return minijinja::escape_formatter(out, state, value),
        }
        Ok(())
    });
}

static EXPRESSION_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    configure(&mut env);
    env
});

static TEMPLATE_ENV: LazyLock<RwLock<Environment<'static>>> = LazyLock::new(|| {
    let mut env = Environment::new();
    configure(&mut env);
    RwLock::new(env)
});

/// A compiled expression, shareable across threads and runs.
#[derive(Debug)]
pub struct CompiledExpression {
    source: String,
    /// For `{name}` placeholders: the text to give back when `name` is not
    /// in the context (other braces are left alone).
    fallback: Option<String>,
    /// For simple expressions: evaluated without minijinja when it can be.
    simple: Option<SimpleExpr>,
    /// minijinja's form: compiled at once, or on first need for simple
    /// expressions (which are valid by construction).
    expr: OnceLock<Expression<'static, 'static>>,
}

impl CompiledExpression {
    /// Compiles `source` (an expression of SPEC 4.2).
    pub fn compile(source: &str) -> Result<Self, TemplateError> {
        let simple = SimpleExpr::parse(source);
        let expr = OnceLock::new();
        if simple.is_none() {
            let _ = expr.set(jinja_expression(source)?);
        }
        Ok(CompiledExpression {
            source: source.to_owned(),
            fallback: None,
            simple,
            expr,
        })
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against `ctx`, giving a minijinja value.
    pub fn eval_jinja(&self, ctx: &minijinja::Value) -> Result<minijinja::Value, TemplateError> {
        if let Some(value) = self.simple.as_ref().and_then(|s| s.eval(ctx)) {
            return Ok(value);
        }
        let expr = match self.expr.get() {
            Some(expr) => expr,
            None => {
                let compiled = jinja_expression(&self.source)?;
                self.expr.get_or_init(|| compiled)
            }
        };
        expr.eval(ctx.clone()).map_err(|e| {
            if e.kind() == minijinja::ErrorKind::UndefinedError {
                undefined_error(&self.source, ctx)
            } else {
                TemplateError::from_jinja(&self.source, &e)
            }
        })
    }

    /// Evaluates against `ctx`, giving JSON. An undefined result is an error
    /// naming the missing variable.
    pub fn eval(&self, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        let value = self.eval_jinja(ctx)?;
        if value.is_undefined() {
            if let Some(text) = &self.fallback {
                return Ok(Value::String(text.clone()));
            }
            return Err(undefined_error(&self.source, ctx));
        }
        jinja_to_json(&value)
    }

    /// Evaluates as a condition: the truth of the result.
    pub fn eval_bool(&self, ctx: &minijinja::Value) -> Result<bool, TemplateError> {
        Ok(self.eval_jinja(ctx)?.is_true())
    }
}

/// minijinja's compiled form of an expression.
fn jinja_expression(source: &str) -> Result<Expression<'static, 'static>, TemplateError> {
    EXPRESSION_ENV
        .compile_expression_owned(source.to_owned())
        .map_err(|e| TemplateError::from_jinja(source, &e))
}

/// An error for a template whose result was undefined, naming the root
/// variables that the context lacks.
fn undefined_error(source: &str, ctx: &minijinja::Value) -> TemplateError {
    let missing: Vec<String> = template_variables(source)
        .into_iter()
        .filter(|v| ctx.get_attr(v).map(|x| x.is_undefined()).unwrap_or(true))
        .collect();
    if missing.is_empty() {
        TemplateError::new(format!("`{source}` is undefined"))
    } else {
        TemplateError::new(format!(
            "undefined variable `{}` in `{source}`",
            missing.join("`, `")
        ))
    }
}

/// Compiles expressions once per distinct text, for tools whose expression
/// arrives at run time (`expr`).
pub fn cached_expression(source: &str) -> Result<Arc<CompiledExpression>, TemplateError> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<CompiledExpression>>>> =
        LazyLock::new(Default::default);
    if let Some(hit) = CACHE.lock().expect("expression cache").get(source) {
        return Ok(hit.clone());
    }
    let compiled = Arc::new(CompiledExpression::compile(source)?);
    let mut cache = CACHE.lock().expect("expression cache");
    if cache.len() < TEMPLATE_CACHE_LIMIT {
        cache.insert(source.to_owned(), compiled.clone());
    }
    Ok(compiled)
}

/// A compiled text template: its Jinja source, registered in the
/// process-wide environment under that source.
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    original: Arc<str>,
    jinja: Arc<str>,
    cached: bool,
}

impl CompiledTemplate {
    /// Compiles `original` (Jinja plus single-brace placeholders).
    pub fn compile(original: &str) -> Result<Self, TemplateError> {
        let jinja: Arc<str> = braces_to_jinja(original).into();
        {
            let env = TEMPLATE_ENV.read().expect("template env");
            if env.get_template(&jinja).is_ok() {
                return Ok(CompiledTemplate {
                    original: original.into(),
                    jinja,
                    cached: true,
                });
            }
            env.template_from_str(&jinja)
                .map_err(|e| TemplateError::from_jinja(original, &e))?;
        }
        let mut env = TEMPLATE_ENV.write().expect("template env");
        let cached = env.templates().count() < TEMPLATE_CACHE_LIMIT
            && env
                .add_template_owned(jinja.to_string(), jinja.to_string())
                .is_ok();
        Ok(CompiledTemplate {
            original: original.into(),
            jinja,
            cached,
        })
    }

    /// Renders against `ctx` to a string.
    pub fn render(&self, ctx: &minijinja::Value) -> Result<String, TemplateError> {
        let result = {
            let env = TEMPLATE_ENV.read().expect("template env");
            if self.cached {
                env.get_template(&self.jinja)
                    .and_then(|t| t.render(ctx.clone()))
            } else {
                env.render_str(&self.jinja, ctx.clone())
            }
        };
        // The environment is released first: naming the missing variables
        // reads it again, and a second read behind a waiting writer would
        // never be granted.
        result.map_err(|e| {
            if e.kind() == minijinja::ErrorKind::UndefinedError {
                undefined_error(&self.original, ctx)
            } else {
                TemplateError::from_jinja(&self.original, &e)
            }
        })
    }
}

/// What a templated string is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Templated {
    /// No template: the string as it is.
    Literal,
    /// Exactly one `{{ expression }}` (or `{name}`, with `fallback` = the
    /// original text): the value keeps its JSON type.
    Expression {
        /// The expression's text.
        source: String,
        /// For `{name}`: the text to keep when `name` is not in the context.
        fallback: Option<String>,
    },
    /// Mixed text: rendered to a string.
    Text,
}

impl Templated {
    /// Classifies a string of a templated field.
    pub fn parse(s: &str) -> Templated {
        if !s.contains('{') {
            return Templated::Literal;
        }
        if let Some(inner) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
            if !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%") {
                return Templated::Expression {
                    source: inner.trim().to_owned(),
                    fallback: None,
                };
            }
        }
        let placeholders = single_brace_placeholders(s);
        if let [(0, end, path)] = placeholders.as_slice() {
            if *end == s.len() {
                return Templated::Expression {
                    source: path_to_jinja(path),
                    fallback: Some(s.to_owned()),
                };
            }
        }
        if placeholders.is_empty() && !s.contains("{{") && !s.contains("{%") {
            return Templated::Literal;
        }
        Templated::Text
    }
}

/// What validation and planning need to know of a template or expression:
/// whether it compiles, and the root variables it reads unguarded.
#[derive(Debug)]
struct Analysis {
    error: Option<TemplateError>,
    variables: Vec<String>,
}

/// Analyses `source` once per distinct text and kind (the cache is shared by
/// validation and planning, which ask about the same strings).
fn analysis(source: &str, expression: bool) -> Arc<Analysis> {
    type Cache = LazyLock<Mutex<HashMap<String, Arc<Analysis>>>>;
    static EXPRESSIONS: Cache = LazyLock::new(Default::default);
    static TEMPLATES: Cache = LazyLock::new(Default::default);
    let cache = if expression { &EXPRESSIONS } else { &TEMPLATES };
    if let Some(hit) = cache.lock().expect("analysis cache").get(source) {
        return hit.clone();
    }
    let result = Arc::new(if expression {
        analyze_expression(source)
    } else {
        analyze_template(source)
    });
    let mut cache = cache.lock().expect("analysis cache");
    if cache.len() < TEMPLATE_CACHE_LIMIT {
        cache.insert(source.to_owned(), result.clone());
    }
    result
}

fn analyze_expression(source: &str) -> Analysis {
    if let Some(simple) = SimpleExpr::parse(source) {
        let root = simple.root().to_owned();
        return Analysis {
            error: None,
            variables: unguarded([root].into_iter().collect(), source),
        };
    }
    match EXPRESSION_ENV.compile_expression(source) {
        Ok(expr) => Analysis {
            error: None,
            variables: unguarded(expr.undeclared_variables(false), source),
        },
        Err(e) => Analysis {
            error: Some(TemplateError::from_jinja(source, &e)),
            variables: Vec::new(),
        },
    }
}

fn analyze_template(s: &str) -> Analysis {
    match Templated::parse(s) {
        Templated::Literal => Analysis {
            error: None,
            variables: Vec::new(),
        },
        Templated::Expression { source, fallback } => {
            let mut a = analyze_expression(&source);
            if fallback.is_some() {
                // `{name}` placeholders are never reported: a missing one stays text.
                a.variables.clear();
            }
            a
        }
        Templated::Text => {
            let jinja = braces_to_jinja(s);
            let env = TEMPLATE_ENV.read().expect("template env");
            match env.template_from_str(&jinja) {
                Ok(t) => Analysis {
                    error: None,
                    variables: unguarded(t.undeclared_variables(false), &strip_braces(s)),
                },
                Err(e) => Analysis {
                    error: Some(TemplateError::from_jinja(s, &e)),
                    variables: Vec::new(),
                },
            }
        }
    }
}

/// The root variables of a template string that nothing guards; empty for
/// literals and for text that does not compile.
pub fn template_variables(s: &str) -> Vec<String> {
    analysis(s, false).variables.clone()
}

/// The root variables of an expression (SPEC 4.2) that nothing guards.
pub fn expression_variables(source: &str) -> Vec<String> {
    analysis(source, true).variables.clone()
}

/// Checks a template's syntax.
pub fn check_template(s: &str) -> Result<(), TemplateError> {
    analysis(s, false).error.clone().map_or(Ok(()), Err)
}

/// Checks an expression's syntax.
pub fn check_expression(s: &str) -> Result<(), TemplateError> {
    analysis(s, true).error.clone().map_or(Ok(()), Err)
}

fn unguarded(names: std::collections::HashSet<String>, source: &str) -> Vec<String> {
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| !is_global(n) && !is_guarded(n, source))
        .collect();
    names.sort();
    names
}

/// True for the engine's global functions (`range`, `dict`, `namespace`…),
/// which are not context variables.
fn is_global(name: &str) -> bool {
    EXPRESSION_ENV.globals().any(|(global, _)| global == name)
}

/// The text with single-brace placeholders removed, so that guard detection
/// looks at Jinja uses only.
fn strip_braces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (start, end, _) in single_brace_placeholders(s) {
        out.push_str(&s[last..start]);
        last = end;
    }
    out.push_str(&s[last..]);
    out
}

/// True when the template tests `name` (`is defined`, `is not defined`,
/// `is undefined`), or when every use of it is guarded: followed by
/// `| default` / `| d` / `or`, or preceded by `if`.
fn is_guarded(name: &str, source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut any = false;
    let mut all_guarded = true;
    let mut from = 0;
    while let Some(pos) = source[from..].find(name) {
        let start = from + pos;
        let end = start + name.len();
        from = end;
        let before_ok = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        };
        let after_ok = end == bytes.len() || {
            let c = bytes[end];
            !(c.is_ascii_alphanumeric() || c == b'_')
        };
        if !before_ok || !after_ok {
            continue;
        }
        any = true;
        let mut rest = &source[end..];
        // Skip an attribute or index chain.
        loop {
            if let Some(r) = rest.strip_prefix('.') {
                let n = r
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(r.len());
                rest = &r[n..];
            } else if rest.starts_with('[') {
                let n = rest.find(']').map(|i| i + 1).unwrap_or(rest.len());
                rest = &rest[n..];
            } else {
                break;
            }
        }
        let rest = rest.trim_start();
        let before = source[..start].trim_end();
        if ["is defined", "is not defined", "is undefined"]
            .iter()
            .any(|g| rest.starts_with(g))
        {
            // The template tests for the name: every use of it is deliberate.
            return true;
        }
        let guarded_after = rest.starts_with("or ")
            || rest.starts_with("or\n")
            || rest
                .strip_prefix('|')
                .map(|r| {
                    let r = r.trim_start();
                    r.starts_with("default") || r.starts_with("d(") || r.starts_with("d ")
                })
                .unwrap_or(false);
        let guarded_before = before.ends_with(" if")
            || before.ends_with("{%if")
            || before.ends_with("if not")
            || before == "if";
        if !(guarded_after || guarded_before) {
            all_guarded = false;
        }
    }
    any && all_guarded
}

/// Finds `{name}` / `{a.b.0}` placeholders outside Jinja blocks: spans
/// `(start, end, path)`.
fn single_brace_placeholders(s: &str) -> Vec<(usize, usize, &str)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'{') | Some(b'%') | Some(b'#') => {
                let close = match bytes[i + 1] {
                    b'{' => "}}",
                    b'%' => "%}",
                    _ => "#}",
                };
                i = s[i + 2..]
                    .find(close)
                    .map(|p| i + 2 + p + 2)
                    .unwrap_or(bytes.len());
                continue;
            }
            _ => {}
        }
        let start = i;
        let mut j = i + 1;
        let path_start = j;
        let mut segment_start = true;
        while j < bytes.len() {
            let c = bytes[j];
            if c == b'.' && !segment_start {
                segment_start = true;
            } else if c.is_ascii_alphabetic()
                || c == b'_'
                || (c.is_ascii_digit() && (!segment_start || j > path_start))
            {
                segment_start = false;
            } else {
                break;
            }
            j += 1;
        }
        if j > path_start
            && !segment_start
            && bytes.get(j) == Some(&b'}')
            && bytes.get(j + 1) != Some(&b'}')
        {
            out.push((start, j + 1, &s[path_start..j]));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// `a.b.0` → `a.b[0]`.
fn path_to_jinja(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for (i, seg) in path.split('.').enumerate() {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Rewrites single-brace placeholders as Jinja that prints the value when
/// the root name is defined and keeps the original text otherwise.
fn braces_to_jinja(s: &str) -> String {
    let placeholders = single_brace_placeholders(s);
    if placeholders.is_empty() {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() * 2);
    let mut last = 0;
    for (start, end, path) in placeholders {
        out.push_str(&s[last..start]);
        let root = path.split('.').next().unwrap_or(path);
        out.push_str(&format!(
            "{{% if {root} is defined %}}{{{{ {} }}}}{{% else %}}{{{{ '{}' }}}}{{% endif %}}",
            path_to_jinja(path),
            &s[start..end]
        ));
        last = end;
    }
    out.push_str(&s[last..]);
    out
}

/// A JSON value with compiled templates at its string leaves.
#[derive(Debug, Clone)]
pub enum ValueTemplate {
    /// No template anywhere below: used as it is.
    Literal(Value),
    /// One expression: keeps its JSON type.
    Expression(Arc<CompiledExpression>),
    /// Mixed text: renders to a string.
    Text(CompiledTemplate),
    /// An object with templates somewhere below.
    Object(Vec<(String, ValueTemplate)>),
    /// A list with templates somewhere below.
    Array(Vec<ValueTemplate>),
}

impl ValueTemplate {
    /// Compiles every string leaf of `value`.
    pub fn compile(value: &Value) -> Result<ValueTemplate, TemplateError> {
        Ok(match value {
            Value::String(s) => match Templated::parse(s) {
                Templated::Literal => ValueTemplate::Literal(value.clone()),
                Templated::Expression { source, fallback } => {
                    let mut expr = CompiledExpression::compile(&source).map_err(|e| {
                        TemplateError::new(format!("{} (template `{s}`)", e.message))
                    })?;
                    expr.fallback = fallback;
                    ValueTemplate::Expression(Arc::new(expr))
                }
                Templated::Text => ValueTemplate::Text(CompiledTemplate::compile(s)?),
            },
            Value::Object(map) => {
                let items = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), ValueTemplate::compile(v)?)))
                    .collect::<Result<Vec<_>, TemplateError>>()?;
                if items
                    .iter()
                    .all(|(_, t)| matches!(t, ValueTemplate::Literal(_)))
                {
                    ValueTemplate::Literal(value.clone())
                } else {
                    ValueTemplate::Object(items)
                }
            }
            Value::Array(list) => {
                let items = list
                    .iter()
                    .map(ValueTemplate::compile)
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, ValueTemplate::Literal(_))) {
                    ValueTemplate::Literal(value.clone())
                } else {
                    ValueTemplate::Array(items)
                }
            }
            other => ValueTemplate::Literal(other.clone()),
        })
    }

    /// Compiles a string as a template, even when it has no braces.
    pub fn compile_str(s: &str) -> Result<ValueTemplate, TemplateError> {
        ValueTemplate::compile(&Value::String(s.to_owned()))
    }

    /// True when nothing in the value is templated.
    pub fn is_literal(&self) -> bool {
        matches!(self, ValueTemplate::Literal(_))
    }

    /// Renders against `ctx`.
    pub fn render(&self, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
        Ok(match self {
            ValueTemplate::Literal(v) => v.clone(),
            ValueTemplate::Expression(e) => e.eval(ctx)?,
            ValueTemplate::Text(t) => Value::String(t.render(ctx)?),
            ValueTemplate::Object(items) => {
                let mut map = serde_json::Map::with_capacity(items.len());
                for (k, t) in items {
                    map.insert(k.clone(), t.render(ctx)?);
                }
                Value::Object(map)
            }
            ValueTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(ctx))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// Renders a template string once against a JSON context (for tools whose
/// template arrives at run time, like `template`).
pub fn render_str(template: &str, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    ValueTemplate::compile_str(template)?.render(ctx)
}

/// A minijinja value over a JSON value (no copy).
pub fn context_from_json(value: Arc<Value>) -> minijinja::Value {
    json_to_jinja(&value, &value, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> minijinja::Value {
        context_from_json(Arc::new(v))
    }

    fn render(t: &str, c: Value) -> Result<Value, TemplateError> {
        render_str(t, &ctx(c))
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        assert_eq!(
            render("{{ a.n + 1 }}", json!({"a": {"n": 2}})).unwrap(),
            json!(3)
        );
        assert_eq!(
            render("{{ a }}", json!({"a": {"n": [1, 2]}})).unwrap(),
            json!({"n": [1, 2]})
        );
        assert_eq!(
            render("{name}", json!({"name": {"x": 1}})).unwrap(),
            json!({"x": 1})
        );
    }

    #[test]
    fn mixed_text_prints_json_style() {
        let out = render(
            "v={{ a }} b={{ b }} n={{ n }} s={{ s }}",
            json!({"a": {"x": 1}, "b": true, "n": null, "s": "t"}),
        );
        assert_eq!(out.unwrap(), json!("v={\"x\":1} b=true n=null s=t"));
    }

    #[test]
    fn single_braces_name_context_keys_and_leave_other_braces() {
        assert_eq!(
            render("Hi {name}!", json!({"name": "Al"})).unwrap(),
            json!("Hi Al!")
        );
        assert_eq!(
            render("{\"a\": 1}", json!({})).unwrap(),
            json!("{\"a\": 1}")
        );
        assert_eq!(render("{missing}", json!({})).unwrap(), json!("{missing}"));
        assert_eq!(
            render("x {missing} y", json!({})).unwrap(),
            json!("x {missing} y")
        );
        assert_eq!(
            render("{a.items.1}", json!({"a": {"items": [0, 7]}})).unwrap(),
            json!(7)
        );
    }

    #[test]
    fn missing_variables_are_named_unless_guarded() {
        let err = render("{{ ghost.x }}", json!({})).unwrap_err();
        assert!(err.message.contains("ghost"), "{}", err.message);
        let err = render("a {{ ghost }}", json!({})).unwrap_err();
        assert!(err.message.contains("ghost"), "{}", err.message);
        assert_eq!(
            render("{{ x | default('d') }}", json!({})).unwrap(),
            json!("d")
        );
        assert_eq!(render("{{ x or 'd' }}", json!({})).unwrap(), json!("d"));
        assert_eq!(
            render(
                "{% if x is defined %}{{ x }}{% else %}no{% endif %}",
                json!({})
            )
            .unwrap(),
            json!("no")
        );
    }

    #[test]
    fn variables_skip_guarded_uses() {
        assert_eq!(template_variables("{{ a.b + c }}"), vec!["a", "c"]);
        assert!(template_variables("{{ x | default(1) }}").is_empty());
        assert_eq!(template_variables("{{ x or 1 }} {{ y }}"), vec!["y"]);
        assert!(template_variables("{% if z is defined %}{{ z }}{% endif %}").is_empty());
        assert!(template_variables("{name}").is_empty());
        assert_eq!(
            template_variables("{% for i in range(n) %}{{ i }}{% endfor %}"),
            vec!["n"]
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(check_template("{{ a + }}").is_err());
        assert!(check_template("{% if %}").is_err());
        assert!(check_template("plain {text}").is_ok());
        assert!(CompiledExpression::compile("score >").is_err());
    }

    #[test]
    fn a_template_that_loops_forever_runs_out_of_fuel() {
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            json!({}),
        );
        assert!(err.is_err());
    }

    #[test]
    fn expressions_follow_jinja_precedence() {
        let e = CompiledExpression::compile("n * 10 + tags | length").unwrap();
        assert_eq!(
            e.eval(&ctx(json!({"n": 2, "tags": ["x", "y"]}))).unwrap(),
            json!(22)
        );
        let e = CompiledExpression::compile("x in ['a', 'b'] and s > 0.5").unwrap();
        assert!(e.eval_bool(&ctx(json!({"x": "a", "s": 0.9}))).unwrap());
    }
}
