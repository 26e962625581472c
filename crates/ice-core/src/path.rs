//! Dotted paths into JSON values (`data.items.1`), as `input_mappings`,
//! `output_mappings` and `items_source` use them.

use serde_json::Value;

/// The value at a dotted path: object keys and list indexes separated by
/// dots; `""` and `"."` are the whole value.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() || path == "." {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, seg| match v {
        Value::Object(map) => map.get(seg),
        Value::Array(list) => seg.parse::<usize>().ok().and_then(|i| list.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn looks_up_keys_and_indexes() {
        let v = json!({"data": {"items": ["zero", "one"]}});
        assert_eq!(lookup(&v, "data.items.1"), Some(&json!("one")));
        assert_eq!(lookup(&v, "."), Some(&v));
        assert_eq!(lookup(&v, "data.nope"), None);
    }
}
