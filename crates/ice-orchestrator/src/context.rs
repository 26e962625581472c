//! A node's input context (SPEC 3.2): run inputs, dependency outputs and
//! input mappings, lowest priority first. Outputs are shared `Arc`s, never
//! copied; templates see the context through minijinja without conversion.

use ice_core::json_view::{json_to_jinja, json_to_jinja_lazy};
use minijinja::value::{Enumerator, Object, Value as Jinja};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The context one node runs with. Build it with [`NodeContext::new`] and
/// read it with [`NodeContext::get`], [`NodeContext::to_json`] or, from
/// templates, as a minijinja object.
#[derive(Debug, Default)]
pub struct NodeContext {
    inputs: Arc<Value>,
    /// Dependency outputs by id, and scope values (loop items…), in
    /// increasing priority.
    entries: Vec<(Arc<str>, Arc<Value>)>,
    /// Input mappings: highest priority.
    mappings: Vec<(String, Arc<Value>)>,
    selection: Option<Arc<[String]>>,
}

impl NodeContext {
    /// A context over the run's inputs (an object).
    pub fn new(inputs: Arc<Value>) -> Self {
        NodeContext {
            inputs,
            ..Default::default()
        }
    }

    /// Adds a dependency's output (or a scope value) under `key`.
    pub fn insert(&mut self, key: Arc<str>, value: Arc<Value>) {
        self.entries.push((key, value));
    }

    /// Adds an input mapping's value.
    pub fn map(&mut self, key: String, value: Arc<Value>) {
        self.mappings.push((key, value));
    }

    /// Keeps only these keys (`input_selection`).
    pub fn select(&mut self, keys: Arc<[String]>) {
        self.selection = Some(keys);
    }

    /// The run inputs.
    pub fn inputs(&self) -> &Arc<Value> {
        &self.inputs
    }

    fn visible(&self, key: &str) -> bool {
        self.selection
            .as_ref()
            .is_none_or(|s| s.iter().any(|k| k == key))
    }

    /// The dependency outputs, scope values and mappings, for the nodes of an
    /// inline list, which see their parent's context.
    pub fn scope(&self) -> Vec<(Arc<str>, Arc<Value>)> {
        self.scope_with_room(0)
    }

    /// [`NodeContext::scope`], with room for `extra` more entries.
    pub fn scope_with_room(&self, extra: usize) -> Vec<(Arc<str>, Arc<Value>)> {
        let mut scope = Vec::with_capacity(self.entries.len() + self.mappings.len() + extra);
        scope.extend(self.entries.iter().cloned());
        scope.extend(
            self.mappings
                .iter()
                .map(|(k, v)| (Arc::from(k.as_str()), v.clone())),
        );
        scope
    }

    /// A context with the same inputs, dependency outputs and mappings (no
    /// selection), for evaluating expressions next to the node's own
    /// values (`until`, `convergence_condition`).
    pub fn derived(&self) -> NodeContext {
        let mut derived = NodeContext::new(self.inputs.clone());
        derived.entries = self.scope();
        derived
    }

    /// The context as an object of values without the `inputs` key: what a
    /// sub-workflow started from this node gets as its run inputs.
    pub fn as_child_inputs(&self) -> Map<String, Value> {
        let mut map = match self.to_json() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.remove("inputs");
        map
    }

    /// The value under `key`, by priority: mappings, then dependency outputs,
    /// then `inputs`, then the flattened run inputs.
    pub fn get(&self, key: &str) -> Option<ContextValue<'_>> {
        if !self.visible(key) {
            return None;
        }
        if let Some((_, v)) = self.mappings.iter().rev().find(|(k, _)| k == key) {
            return Some(ContextValue::Shared(v));
        }
        if let Some((_, v)) = self.entries.iter().rev().find(|(k, _)| &**k == key) {
            return Some(ContextValue::Shared(v));
        }
        if key == "inputs" {
            return Some(ContextValue::Shared(&self.inputs));
        }
        self.inputs
            .as_object()
            .and_then(|map| map.get_key_value(key))
            .map(|(k, v)| ContextValue::Within(&self.inputs, v, k))
    }

    /// Every visible key, each once.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut push = |k: &str| {
            if self.visible(k) && !keys.iter().any(|x| x == k) {
                keys.push(k.to_owned());
            }
        };
        if let Some(map) = self.inputs.as_object() {
            map.keys().for_each(|k| push(k));
        }
        push("inputs");
        self.entries.iter().for_each(|(k, _)| push(k));
        self.mappings.iter().for_each(|(k, _)| push(k));
        keys
    }

    /// The context as one JSON object (a copy: for tools and code that take
    /// the whole context).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for key in self.keys() {
            if let Some(v) = self.get(&key) {
                map.insert(key, v.value().clone());
            }
        }
        Value::Object(map)
    }

    /// The context as a minijinja value, for templates and expressions.
    pub fn into_jinja(self) -> Jinja {
        Jinja::from_object(self)
    }
}

/// A value found in a context.
#[derive(Debug, Clone, Copy)]
pub enum ContextValue<'a> {
    /// A whole shared value.
    Shared(&'a Arc<Value>),
    /// A part of a shared value, under a key.
    Within(&'a Arc<Value>, &'a Value, &'a str),
}

impl ContextValue<'_> {
    /// The JSON value.
    pub fn value(&self) -> &Value {
        match self {
            ContextValue::Shared(v) => v,
            ContextValue::Within(_, v, _) => v,
        }
    }

    fn to_jinja(self) -> Jinja {
        match self {
            ContextValue::Shared(v) => json_to_jinja(v, v, String::new()),
            ContextValue::Within(root, v, key) => json_to_jinja_lazy(root, v, || {
                format!("/{}", key.replace('~', "~0").replace('/', "~1"))
            }),
        }
    }
}

impl Object for NodeContext {
    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        self.get(key.as_str()?).map(ContextValue::to_jinja)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.keys().into_iter().map(Jinja::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn priority_is_mappings_then_dependencies_then_inputs() {
        let mut ctx = NodeContext::new(Arc::new(json!({"a": 1, "b": 1, "c": 1})));
        ctx.insert("b".into(), Arc::new(json!(2)));
        ctx.insert("c".into(), Arc::new(json!(2)));
        ctx.map("c".into(), Arc::new(json!(3)));
        assert_eq!(
            ctx.to_json(),
            json!({"a": 1, "b": 2, "c": 3, "inputs": {"a": 1, "b": 1, "c": 1}})
        );
    }

    #[test]
    fn selection_filters_keys() {
        let mut ctx = NodeContext::new(Arc::new(json!({"a": 1, "b": 2})));
        ctx.select(vec!["a".to_owned()].into());
        assert_eq!(ctx.to_json(), json!({"a": 1}));
    }

    #[test]
    fn templates_read_the_context() {
        let mut ctx = NodeContext::new(Arc::new(json!({"name": "x"})));
        ctx.insert("dep".into(), Arc::new(json!({"v": [1, 2]})));
        let jinja = ctx.into_jinja();
        let t = ice_core::template::ValueTemplate::compile(&json!(
            "{{ dep.v[1] }}-{{ name }}-{{ inputs.name }}"
        ))
        .unwrap();
        assert_eq!(t.render(&jinja).unwrap(), json!("2-x-x"));
    }
}
