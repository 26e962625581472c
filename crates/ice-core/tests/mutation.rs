//! A deterministic mutation test of the parser and validator: thousands of
//! damaged documents (bytes dropped, duplicated or replaced, values swapped
//! for other types) must each give a report, never a panic or a hang.

use ice_core::parse::Format;
use ice_core::validate::{validate_text, BuiltinsOnly};
use serde_json::{json, Value};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Value> {
    vec![
        json!({"schema_version": "1.2.0", "inputs": {"n": {"type": "integer"}}, "outputs": {"o": "{{ b.result }}"}, "nodes": [
            {"id": "a", "type": "tool", "tool_name": "echo", "tool_args": {"x": "{{ n }}", "y": [1, {"z": "{a}"}]}},
            {"id": "b", "type": "tool", "tool_name": "expr", "dependencies": ["a"], "tool_args": {"expression": "a.x * 2"},
             "retry_policy": {"max_attempts": 2}, "input_mappings": {"m": {"source_node_id": "a", "source_output_key": "y.1.z"}}},
            {"id": "c", "type": "condition", "expression": "b.result > 1", "dependencies": ["b"],
             "true_path": [{"id": "t", "type": "tool", "tool_name": "echo"}], "false_path": ["d"]},
            {"id": "d", "type": "tool", "tool_name": "echo", "dependencies": ["c"]},
            {"id": "l", "type": "loop", "items_source": "inputs.items", "body": [{"id": "lb", "type": "tool", "tool_name": "echo"}]},
            {"id": "p", "type": "parallel", "branches": [[{"id": "p1", "type": "tool", "tool_name": "echo"}]]},
            {"id": "h", "type": "human", "approval_type": "choice", "choices": ["a", "b"]},
            {"id": "r", "type": "recursive", "recursive_sources": ["d"], "workflow_ref": "x.yaml", "dependencies": ["d"]}
        ]}),
    ]
}

/// Replaces one value somewhere in the document with a value of another type.
fn swap_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    let replacements = [
        json!(null),
        json!(-1),
        json!("{{ oops"),
        json!([]),
        json!({}),
        json!(true),
        json!("x".repeat(300)),
    ];
    let descend = depth > 0 && rng.below(3) != 0;
    match v {
        Value::Object(map) if descend && !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned().unwrap();
            swap_value(map.get_mut(&key).unwrap(), rng, depth - 1);
        }
        Value::Array(list) if descend && !list.is_empty() => {
            let i = rng.below(list.len());
            swap_value(&mut list[i], rng, depth - 1);
        }
        _ => *v = replacements[rng.below(replacements.len())].clone(),
    }
}

#[test]
fn damaged_documents_get_reports_not_panics() {
    let mut rng = Rng(0x1CE_5EED);
    let mut reports = 0;
    for seed in seeds() {
        let text = seed.to_string();
        let yaml_like = text.replace(['{', '}'], " ");
        for round in 0..1500 {
            let mut doc = seed.clone();
            for _ in 0..1 + rng.below(3) {
                swap_value(&mut doc, &mut rng, 6);
            }
            let (_, report) = validate_text(&doc.to_string(), Format::Json, &BuiltinsOnly);
            reports += usize::from(!report.valid);

            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len());
                match rng.below(3) {
                    0 => {
                        bytes.remove(i);
                    }
                    1 => bytes.insert(i, b"{}[]\":,x1"[rng.below(9)]),
                    _ => bytes[i] = b"{}[]\":,x1"[rng.below(9)],
                }
            }
            let damaged = String::from_utf8_lossy(&bytes);
            let format = if round % 5 == 0 {
                Format::Yaml
            } else {
                Format::Json
            };
            let _ = validate_text(&damaged, format, &BuiltinsOnly);
            let _ = validate_text(
                &yaml_like[..rng.below(yaml_like.len())],
                Format::Yaml,
                &BuiltinsOnly,
            );
        }
    }
    assert!(
        reports > 100,
        "the mutations should break many documents ({reports})"
    );
}
