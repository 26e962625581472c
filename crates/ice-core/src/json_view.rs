//! JSON values seen from templates without copying them: a minijinja object
//! that points into a shared JSON value, and the conversion back to JSON.

use crate::template::TemplateError;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Jinja, ValueKind};
use serde_json::Value;
use std::sync::Arc;

/// A view of the JSON object or list at `pointer` inside `root`.
#[derive(Debug)]
pub struct JsonView {
    root: Arc<Value>,
    pointer: String,
}

impl JsonView {
    /// The JSON value this view shows.
    pub fn value(&self) -> &Value {
        self.root.pointer(&self.pointer).unwrap_or(&Value::Null)
    }
}

/// The minijinja value of `value`, a part of `root` at the pointer that
/// `pointer` makes: scalars are converted, objects and lists are viewed in
/// place (the pointer is only built for them).
pub fn json_to_jinja_lazy(
    root: &Arc<Value>,
    value: &Value,
    pointer: impl FnOnce() -> String,
) -> Jinja {
    match value {
        Value::Array(_) | Value::Object(_) => Jinja::from_object(JsonView {
            root: root.clone(),
            pointer: pointer(),
        }),
        scalar => json_to_jinja(root, scalar, String::new()),
    }
}

/// The minijinja value of `value`, a part of `root` at `pointer`: scalars are
/// converted, objects and lists are viewed in place.
pub fn json_to_jinja(root: &Arc<Value>, value: &Value, pointer: String) -> Jinja {
    match value {
        Value::Null => Jinja::from(()),
        Value::Bool(b) => Jinja::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Jinja::from(i)
            } else if let Some(u) = n.as_u64() {
                Jinja::from(u)
            } else {
                Jinja::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Jinja::from(s.as_str()),
        Value::Array(_) | Value::Object(_) => Jinja::from_object(JsonView {
            root: root.clone(),
            pointer,
        }),
    }
}

fn escape_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1").into()
    } else {
        key.into()
    }
}

impl Object for JsonView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.value() {
            Value::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        match self.value() {
            Value::Object(map) => {
                let k = key.as_str()?;
                let child = map.get(k)?;
                Some(json_to_jinja_lazy(&self.root, child, || {
                    format!("{}/{}", self.pointer, escape_key(k))
                }))
            }
            Value::Array(list) => {
                let idx = i64::try_from(key.clone()).ok()?;
                let idx = if idx < 0 {
                    list.len() as i64 + idx
                } else {
                    idx
                };
                let child = list.get(usize::try_from(idx).ok()?)?;
                Some(json_to_jinja_lazy(&self.root, child, || {
                    format!("{}/{idx}", self.pointer)
                }))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.value() {
            Value::Object(map) => {
                Enumerator::Values(map.keys().map(|k| Jinja::from(k.as_str())).collect())
            }
            Value::Array(list) => Enumerator::Seq(list.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.value() {
            Value::Object(map) => Some(map.len()),
            Value::Array(list) => Some(list.len()),
            _ => Some(0),
        }
    }
}

/// Converts a minijinja value to JSON. Views are copied out directly; an
/// undefined value is an error.
pub fn jinja_to_json(value: &Jinja) -> Result<Value, TemplateError> {
    if let Some(view) = value.downcast_object_ref::<JsonView>() {
        return Ok(view.value().clone());
    }
    match value.kind() {
        ValueKind::Undefined => Err(TemplateError {
            message: "the value is undefined".into(),
        }),
        ValueKind::None => Ok(Value::Null),
        ValueKind::Bool => Ok(Value::Bool(value.is_true())),
        ValueKind::String => Ok(Value::String(value.as_str().unwrap_or_default().to_owned())),
        ValueKind::Number => {
            if let Ok(i) = i64::try_from(value.clone()) {
                Ok(Value::from(i))
            } else if let Ok(f) = f64::try_from(value.clone()) {
                Ok(serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null))
            } else {
                serde_json::to_value(value).map_err(|e| TemplateError {
                    message: e.to_string(),
                })
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value.try_iter().map_err(|e| TemplateError {
                message: e.to_string(),
            })?;
            Ok(Value::Array(
                items.map(|v| jinja_to_json(&v)).collect::<Result<_, _>>()?,
            ))
        }
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            let keys = value.try_iter().map_err(|e| TemplateError {
                message: e.to_string(),
            })?;
            for key in keys {
                let item = value.get_item(&key).map_err(|e| TemplateError {
                    message: e.to_string(),
                })?;
                let name = match key.as_str() {
                    Some(s) => s.to_owned(),
                    None => key.to_string(),
                };
                map.insert(name, jinja_to_json(&item)?);
            }
            Ok(Value::Object(map))
        }
        _ => serde_json::to_value(value).map_err(|e| TemplateError {
            message: e.to_string(),
        }),
    }
}
