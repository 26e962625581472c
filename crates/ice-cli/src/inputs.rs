//! Run inputs from `--input k=v` and `--inputs-json FILE`.

use serde_json::{Map, Value};
use std::path::Path;

/// Merges the inputs file (an object) and the `k=v` pairs (which win). A
/// value that parses as JSON is taken as JSON, else as a string.
pub fn collect(pairs: &[String], file: Option<&Path>) -> Result<Value, String> {
    let mut map = match file {
        None => Map::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(format!(
                        "{} must hold a JSON object, not {other}",
                        path.display()
                    ))
                }
                Err(e) => return Err(format!("{} is not valid JSON: {e}", path.display())),
            }
        }
    };
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| format!("--input `{pair}` is not of the form key=value"))?;
        if key.is_empty() {
            return Err(format!("--input `{pair}` has an empty key"));
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse() {
        let v = collect(
            &["n=3".into(), "name=Alice".into(), "list=[1,2]".into()],
            None,
        )
        .unwrap();
        assert_eq!(v, json!({"n": 3, "name": "Alice", "list": [1, 2]}));
        assert!(collect(&["novalue".into()], None).is_err());
    }
}
