//! Expressions simple enough to evaluate without minijinja's compiler and
//! VM: a dotted path (`item`, `fetch.json.title`), optionally with one
//! integer step (`n0.value + 1`, `count - 2`, `x * 3`). They are most of
//! the expressions of real blueprints, and minijinja keeps about 12 KB per
//! compiled expression and sets up a VM per evaluation. Anything else, and
//! any value these cannot handle (a missing key, a float, an overflow),
//! goes to minijinja, so the results are the same.

use minijinja::value::{Value as JinjaValue, ValueKind};

/// An integer step after the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Add(i64),
    Sub(i64),
    Mul(i64),
}

/// `root.a.b [op int]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimpleExpr {
    root: String,
    attrs: Vec<String>,
    step: Option<Step>,
}

/// Words that are literals or operators in expressions, never variables.
const RESERVED: [&str; 13] = [
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SimpleExpr {
    /// Recognises a simple expression; `None` for anything else.
    pub(crate) fn parse(source: &str) -> Option<Self> {
        let source = source.trim();
        let (path, step) = match source.split_once(['+', '-', '*']) {
            None => (source, None),
            Some((path, number)) => {
                let op = source[path.len()..].chars().next()?;
                let n: i64 = number.trim().parse().ok()?;
                if number.trim().starts_with(['+', '-']) {
                    return None;
                }
                let step = match op {
                    '+' => Step::Add(n),
                    '-' => Step::Sub(n),
                    _ => Step::Mul(n),
                };
                (path.trim_end(), Some(step))
            }
        };
        let mut parts = path.split('.');
        let root = parts.next()?;
        if !is_identifier(root) || RESERVED.contains(&root) {
            return None;
        }
        let attrs: Vec<String> = parts.map(str::to_owned).collect();
        if !attrs.iter().all(|a| is_identifier(a)) {
            return None;
        }
        Some(SimpleExpr {
            root: root.to_owned(),
            attrs,
            step,
        })
    }

    /// The variable the expression reads.
    pub(crate) fn root(&self) -> &str {
        &self.root
    }

    /// The value, or `None` when minijinja must decide (undefined values,
    /// non-integers under a step, overflow).
    pub(crate) fn eval(&self, ctx: &JinjaValue) -> Option<JinjaValue> {
        let mut value = ctx.get_attr(&self.root).ok()?;
        for attr in &self.attrs {
            if value.kind() != ValueKind::Map {
                return None;
            }
            value = value.get_attr(attr).ok()?;
        }
        if value.is_undefined() {
            return None;
        }
        let Some(step) = self.step else {
            return Some(value);
        };
        if !value.is_integer() {
            return None;
        }
        let n = value.as_i64()?;
        let result = match step {
            Step::Add(k) => n.checked_add(k),
            Step::Sub(k) => n.checked_sub(k),
            Step::Mul(k) => n.checked_mul(k),
        }?;
        Some(JinjaValue::from(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_one_integer_step_are_simple() {
        let p = |s: &str| SimpleExpr::parse(s);
        assert_eq!(p("item").unwrap().root(), "item");
        assert!(p(" n0.value + 1 ").is_some());
        assert!(p("a.b_c.d * 3").is_some());
        assert!(p("count - 2").is_some());
        for not_simple in [
            "true",
            "none",
            "a + b",
            "a / 2",
            "a + 1.5",
            "a + -1",
            "a.0",
            "a[0]",
            "a | length",
            "a > 1",
            "f(x)",
            "'text'",
            "1",
            "a.b.",
            "a + 1 + 2",
        ] {
            assert!(p(not_simple).is_none(), "{not_simple}");
        }
    }

    #[test]
    fn values_follow_minijinja_or_defer_to_it() {
        let root = std::sync::Arc::new(json!({
            "n": {"value": 41, "f": 1.0, "big": i64::MAX, "s": "x", "list": [1]},
        }));
        let ctx = crate::json_view::json_to_jinja(&root, &root, String::new());
        let eval = |s: &str| SimpleExpr::parse(s).unwrap().eval(&ctx);
        assert_eq!(eval("n.value + 1"), Some(JinjaValue::from(42)));
        assert_eq!(eval("n.value * 2"), Some(JinjaValue::from(82)));
        assert_eq!(eval("n.s"), Some(JinjaValue::from("x")));
        for deferred in [
            "n.f + 1",
            "n.big + 1",
            "n.s + 1",
            "n.missing",
            "m",
            "n.list.x",
        ] {
            assert_eq!(eval(deferred), None, "{deferred}");
        }
    }
}
