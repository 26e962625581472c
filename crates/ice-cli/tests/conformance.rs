//! Runs every case of `../shared/conformance/` through the library and
//! through the CLI, with the matching rules of that folder's README.

use ice_orchestrator::{Runtime, Workflow};
use ice_sandbox::{testing, WasmSandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn conformance_dir() -> PathBuf {
    std::env::var_os("ICE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        })
}

struct Case {
    name: String,
    doc: Value,
}

fn cases() -> Vec<Case> {
    let dir = conformance_dir();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "the conformance cases are expected in {}: {e}",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    assert!(
        !entries.is_empty(),
        "no conformance case in {}",
        dir.display()
    );
    entries
        .into_iter()
        .map(|path| Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            doc: serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
        })
        .collect()
}

fn sandbox() -> Option<Arc<WasmSandbox>> {
    testing::sandbox_or_skip("conformance cases with code nodes")
}

fn has_code_nodes(case: &Case) -> bool {
    case.doc["blueprint"]
        .to_string()
        .contains(r#""type":"code""#)
}

/// Inclusion matching of the conformance README.
fn matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => {
            for (key, want) in exp {
                if let Some(base) = key.strip_suffix("_contains") {
                    if let Value::String(needle) = want {
                        let got = act
                            .get(base)
                            .and_then(Value::as_str)
                            .ok_or_else(|| format!("{path}.{base}: missing or not a string"))?;
                        if !got.contains(needle.as_str()) {
                            return Err(format!(
                                "{path}.{base}: `{got}` does not contain `{needle}`"
                            ));
                        }
                        continue;
                    }
                }
                let got = act
                    .get(key)
                    .ok_or_else(|| format!("{path}.{key}: missing"))?;
                matches(want, got, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(exp), Value::Array(act)) => {
            if exp.len() != act.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}",
                    exp.len(),
                    act.len()
                ));
            }
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                matches(e, a, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

fn check_validation(expected: &Value, report: &Value) -> Result<(), String> {
    if let Some(valid) = expected.get("valid") {
        if report["valid"] != *valid {
            return Err(format!("valid: expected {valid}, got {}", report["valid"]));
        }
    }
    let codes: Vec<&str> = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["code"].as_str())
        .collect();
    for code in expected
        .get("codes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let code = code.as_str().unwrap_or_default();
        if !codes.contains(&code) {
            return Err(format!("code {code} missing from {codes:?}"));
        }
    }
    Ok(())
}

async fn run_library(case: &Case) -> Result<(), String> {
    let mut runtime = Runtime::builder();
    if let Some(sandbox) = sandbox() {
        runtime = runtime.code_runner(sandbox);
    }
    let wf = Workflow::from_value(case.doc["blueprint"].clone()).with_runtime(runtime.build());
    if let Some(expected) = case.doc.get("expect_validation") {
        let report = serde_json::to_value(wf.report()).unwrap();
        check_validation(expected, &report)?;
    }
    if let Some(expected) = case.doc.get("expect") {
        let inputs = case.doc.get("inputs").cloned().unwrap_or(Value::Null);
        let result = wf
            .execute(inputs)
            .await
            .map_err(|e| format!("the run did not start: {e}"))?;
        matches(expected, &serde_json::to_value(&result).unwrap(), "$")?;
    }
    Ok(())
}

fn run_cli(case: &Case, dir: &Path) -> Result<(), String> {
    let file = dir.join(format!("{}.json", case.name));
    std::fs::write(&file, case.doc["blueprint"].to_string()).unwrap();
    let ice = env!("CARGO_BIN_EXE_ice");
    if let Some(expected) = case.doc.get("expect_validation") {
        let out = Command::new(ice)
            .args(["validate", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("ice validate --json printed no JSON: {e}"))?;
        check_validation(expected, &report)?;
        let want_code = if report["valid"] == true { 0 } else { 2 };
        if out.status.code() != Some(want_code) {
            return Err(format!(
                "ice validate exited {:?}, expected {want_code}",
                out.status.code()
            ));
        }
    }
    if let Some(expected) = case.doc.get("expect") {
        let inputs = dir.join(format!("{}.inputs.json", case.name));
        std::fs::write(
            &inputs,
            case.doc
                .get("inputs")
                .cloned()
                .unwrap_or(Value::Object(Default::default()))
                .to_string(),
        )
        .unwrap();
        let out = Command::new(ice)
            .args(["run", "--json", "--inputs-json"])
            .arg(&inputs)
            .arg(&file)
            .output()
            .unwrap();
        let result: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "ice run --json printed no JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        matches(expected, &result, "$")?;
        let want_code = if result["success"] == true { 0 } else { 1 };
        if out.status.code() != Some(want_code) {
            return Err(format!(
                "ice run exited {:?}, expected {want_code}",
                out.status.code()
            ));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_passes_through_the_library_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in cases() {
        if has_code_nodes(&case) && sandbox().is_none() {
            continue;
        }
        if let Err(e) = run_library(&case).await {
            failures.push(format!("{} (library): {e}", case.name));
        }
        if let Err(e) = run_cli(&case, dir.path()) {
            failures.push(format!("{} (cli): {e}", case.name));
        }
        passed += 1;
    }
    assert!(
        failures.is_empty(),
        "conformance failures:\n{}",
        failures.join("\n")
    );
    assert!(passed >= 15, "only {passed} cases ran");
}
