//! Does a value conform to a node's schema? The iceOS simple form
//! (`{field: "int"}`, every field present with its type) and the JSON
//! Schema keywords that describe data shapes: `type`, `properties`,
//! `required`, `additionalProperties`, `items`, `enum`, `const`, `anyOf`,
//! `oneOf`, `allOf`, and the bounds `minimum`, `maximum`, `minLength`,
//! `maxLength`, `minItems`, `maxItems`. Other keywords are not checked.

use crate::validate::{is_simple_schema, simple_type};
use serde_json::Value;

/// Checks `value` against `schema`; the error names the first place that
/// does not conform, as a JSON path from `$`.
pub fn conform(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, "$")
}

fn check(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let Some(map) = schema.as_object() else {
        return Ok(());
    };
    if map.is_empty() {
        return Ok(());
    }
    if is_simple_schema(schema) {
        return check_simple(value, map, at);
    }
    if let Some(t) = map.get("type") {
        let allowed: Vec<&str> = match t {
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|t| has_type(value, t)) {
            return Err(format!(
                "{at}: expected {}, got {}",
                allowed.join(" or "),
                describe(value)
            ));
        }
    }
    if let Some(options) = map.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!(
                "{at}: {value} is not one of {}",
                Value::from(options.clone())
            ));
        }
    }
    if let Some(expected) = map.get("const") {
        if expected != value {
            return Err(format!("{at}: expected {expected}, got {value}"));
        }
    }
    check_bounds(value, map, at)?;
    check_combinators(value, map, at)?;
    match value {
        Value::Object(object) => {
            if let Some(required) = map.get("required").and_then(Value::as_array) {
                if let Some(missing) = required
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|k| !object.contains_key(*k))
                {
                    return Err(format!("{at}: the required field `{missing}` is missing"));
                }
            }
            let properties = map.get("properties").and_then(Value::as_object);
            for (key, item) in object {
                let path = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => check(item, sub, &path)?,
                    None => match map.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{at}: the field `{key}` is not allowed"))
                        }
                        Some(sub @ Value::Object(_)) => check(item, sub, &path)?,
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = map.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, sub, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_simple(
    value: &Value,
    fields: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    let Value::Object(object) = value else {
        return Err(format!("{at}: expected object, got {}", describe(value)));
    };
    for (field, t) in fields {
        let t = t.as_str().unwrap_or_default();
        let Some(item) = object.get(field) else {
            return Err(format!("{at}: the field `{field}` ({t}) is missing"));
        };
        let expected = simple_type(t).unwrap_or("any");
        if expected != "any" && !has_type(item, expected) {
            return Err(format!(
                "{at}.{field}: expected {t}, got {}",
                describe(item)
            ));
        }
        // `list[str]`: the items' type too.
        if let (Some(inner), Value::Array(items)) = (list_item_type(t), item) {
            if let Some((i, bad)) = items.iter().enumerate().find(|(_, v)| !has_type(v, inner)) {
                return Err(format!(
                    "{at}.{field}[{i}]: expected {}, got {}",
                    t.split('[')
                        .nth(1)
                        .unwrap_or_default()
                        .trim_end_matches(']'),
                    describe(bad)
                ));
            }
        }
    }
    Ok(())
}

/// The JSON type of the items of `list[T]`, when `T` is a simple type.
fn list_item_type(t: &str) -> Option<&'static str> {
    let inner = t.split_once('[')?.1.strip_suffix(']')?;
    simple_type(inner).filter(|t| *t != "any")
}

fn check_bounds(
    value: &Value,
    map: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    let bound = |key: &str| map.get(key).and_then(Value::as_f64);
    if let Some(n) = value.as_f64() {
        if let Some(min) = bound("minimum").filter(|min| n < *min) {
            return Err(format!("{at}: {value} is below the minimum {min}"));
        }
        if let Some(max) = bound("maximum").filter(|max| n > *max) {
            return Err(format!("{at}: {value} is above the maximum {max}"));
        }
    }
    let length = match value {
        Value::String(s) => Some((s.chars().count(), "minLength", "maxLength", "characters")),
        Value::Array(a) => Some((a.len(), "minItems", "maxItems", "items")),
        _ => None,
    };
    if let Some((len, min_key, max_key, unit)) = length {
        let len_f = len as f64;
        if let Some(min) = bound(min_key).filter(|min| len_f < *min) {
            return Err(format!("{at}: {len} {unit}, fewer than {min_key} {min}"));
        }
        if let Some(max) = bound(max_key).filter(|max| len_f > *max) {
            return Err(format!("{at}: {len} {unit}, more than {max_key} {max}"));
        }
    }
    Ok(())
}

fn check_combinators(
    value: &Value,
    map: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    let list = |key: &str| map.get(key).and_then(Value::as_array);
    if let Some(all) = list("allOf") {
        for sub in all {
            check(value, sub, at)?;
        }
    }
    if let Some(any) = list("anyOf") {
        if !any.iter().any(|sub| check(value, sub, at).is_ok()) {
            return Err(format!("{at}: matches none of the `anyOf` schemas"));
        }
    }
    if let Some(one) = list("oneOf") {
        let matching = one
            .iter()
            .filter(|sub| check(value, sub, at).is_ok())
            .count();
        if matching != 1 {
            return Err(format!(
                "{at}: matches {matching} of the `oneOf` schemas, not exactly one"
            ));
        }
    }
    Ok(())
}

/// Whether `value` has the JSON Schema type `t` (integers are numbers too,
/// and a number without a fraction is an integer); unknown names accept
/// anything.
pub fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn describe(value: &Value) -> String {
    let kind = crate::parse::kind_of(value);
    match value {
        Value::Object(_) | Value::Array(_) => kind.to_string(),
        other => format!("{kind} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_schemas_check_types_fields_items_and_bounds() {
        let schema = json!({
            "type": "object",
            "properties": {
                "sum": {"type": "integer", "minimum": 0},
                "names": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "mode": {"enum": ["a", "b"]}
            },
            "required": ["sum"],
            "additionalProperties": false
        });
        assert_eq!(conform(&json!({"sum": 5, "names": ["a"]}), &schema), Ok(()));
        let cases = [
            (
                json!({"names": []}),
                "$: the required field `sum` is missing",
            ),
            (
                json!({"sum": "5"}),
                "$.sum: expected integer, got a string \"5\"",
            ),
            (json!({"sum": -1}), "$.sum: -1 is below the minimum 0"),
            (
                json!({"sum": 1, "names": ["a", 2]}),
                "$.names[1]: expected string, got a number 2",
            ),
            (
                json!({"sum": 1, "names": ["a", "b", "c", "d"]}),
                "$.names: 4 items, more than maxItems 3",
            ),
            (
                json!({"sum": 1, "mode": "c"}),
                "$.mode: \"c\" is not one of [\"a\",\"b\"]",
            ),
            (
                json!({"sum": 1, "extra": true}),
                "$: the field `extra` is not allowed",
            ),
            (json!([1]), "$: expected object, got a list"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                conform(&value, &schema),
                Err(expected.to_string()),
                "{value}"
            );
        }
    }

    #[test]
    fn simple_schemas_need_every_field_with_its_type() {
        let schema = json!({"x": "int", "names": "list[str]", "meta": "any"});
        assert_eq!(
            conform(&json!({"x": 1, "names": ["a"], "meta": null}), &schema),
            Ok(())
        );
        assert_eq!(
            conform(&json!({"x": 1.5, "names": [], "meta": 1}), &schema),
            Err("$.x: expected int, got a number 1.5".into())
        );
        assert_eq!(
            conform(&json!({"x": 1, "names": ["a", 1], "meta": 1}), &schema),
            Err("$.names[1]: expected str, got a number 1".into())
        );
        assert_eq!(
            conform(&json!({"x": 1, "names": []}), &schema),
            Err("$: the field `meta` (any) is missing".into())
        );
    }

    #[test]
    fn empty_schemas_accept_anything_and_combinators_combine() {
        assert_eq!(conform(&json!(1), &json!({})), Ok(()));
        assert_eq!(conform(&json!(1), &Value::Null), Ok(()));
        let either = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert_eq!(conform(&json!(3), &either), Ok(()));
        assert!(conform(&json!(true), &either).is_err());
    }
}
