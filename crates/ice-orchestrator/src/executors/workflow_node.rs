//! `workflow` nodes: run another blueprint as a full child run (its own
//! context and settings; shared events, budgets and cancellation), and
//! expose its outputs.

use crate::error::{ErrorKind, NodeError};
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::plan::{BuildEnv, Plan};
use crate::run::{ResolvedSettings, RunShared};
use crate::scheduler::{run_list, Stop};
use crate::workflow::prepare_inputs;
use async_trait::async_trait;
use ice_core::diagnostic::Findings;
use ice_core::node::{NodeConfig, NodeKind};
use ice_core::parse::{parse_text, Format};
use ice_core::result::NodeStatus;
use ice_core::validate::validate_document;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Runs `workflow` nodes.
pub struct WorkflowExecutor;

/// A compiled child workflow, ready to run as part of a parent run.
pub struct ChildWorkflow {
    reference: String,
    plan: Plan,
}

struct PreparedWorkflow {
    child: ChildWorkflow,
    overrides: Map<String, Value>,
    exposed: Vec<(String, String)>,
}

/// The document a reference names, the directory its own references
/// resolve against, and a key that identifies it in the include chain.
fn resolve(
    reference: &str,
    ctx: &PrepareCtx<'_>,
) -> Result<(Value, Option<PathBuf>, String), PrepareError> {
    if let Some(registered) = ctx.env.runtime.workflow(reference) {
        return Ok((
            registered.document.clone(),
            registered.base_dir.clone(),
            format!("registered `{reference}`"),
        ));
    }
    let path = match ctx.env.base_dir {
        Some(dir) => dir.join(reference),
        None => PathBuf::from(reference),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| PrepareError::unknown_ref(format!("workflow_ref `{reference}` is neither a registered workflow nor a readable file ({}: {e})", path.display())))?;
    let key = std::fs::canonicalize(&path)
        .unwrap_or_else(|_| path.clone())
        .display()
        .to_string();
    let mut f = Findings::default();
    let document = parse_text(&text, Format::detect(path.to_str(), &text), &mut f)
        .ok_or_else(|| format!("workflow_ref `{reference}`: {}", f.into_report()))?;
    Ok((document, path.parent().map(PathBuf::from), key))
}

#[async_trait]
impl NodeExecutor for WorkflowExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Workflow(w) = &node.kind else {
            return Err(format!("node `{}` is not a workflow node", node.id()).into());
        };
        let child = compile_child(&w.workflow_ref, ctx)?;
        Ok(Some(Arc::new(PreparedWorkflow {
            child,
            overrides: w.config_overrides.clone(),
            exposed: w
                .exposed_outputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let p: &PreparedWorkflow = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("workflow node was not prepared"))?;
        let mut inputs = ctx.context().as_child_inputs();
        inputs.extend(p.overrides.clone());
        let output = run_child(&p.child, ctx, inputs).await?;
        if p.exposed.is_empty() {
            return Ok(Value::Object(output));
        }
        let whole = Value::Object(output);
        let mut exposed = Map::new();
        for (name, path) in &p.exposed {
            let value = ice_core::path::lookup(&whole, path).ok_or_else(|| {
                NodeError::validation(format!(
                    "exposed output `{name}`: the output of workflow `{}` has nothing at `{path}`",
                    p.child.reference
                ))
            })?;
            exposed.insert(name.clone(), value.clone());
        }
        Ok(Value::Object(exposed))
    }
}

/// Resolves and compiles the workflow a node names; refuses one that
/// includes itself.
pub fn compile_child(reference: &str, ctx: &PrepareCtx<'_>) -> Result<ChildWorkflow, PrepareError> {
    let (document, base_dir, key) = resolve(reference, ctx)?;
    if ctx.env.chain.contains(&key) {
        let mut shown: Vec<&str> = ctx.env.chain.iter().map(String::as_str).collect();
        shown.push(&key);
        return Err(format!(
            "workflow `{reference}` includes itself: {}",
            shown.join(" -> ")
        )
        .into());
    }
    let (blueprint, report) = validate_document(&document, ctx.env.runtime, Findings::default());
    let blueprint =
        blueprint.ok_or_else(|| format!("workflow_ref `{reference}` is invalid:\n{report}"))?;
    let mut chain = ctx.env.chain.to_vec();
    chain.push(key);
    let env = BuildEnv {
        runtime: ctx.env.runtime,
        base_dir: base_dir.as_deref(),
        chain: &chain,
    };
    let mut f = Findings::default();
    let plan = Plan::build(blueprint, ctx.id, env, &mut f)
        .filter(|_| f.errors.is_empty())
        .ok_or_else(|| {
            let errors: Vec<String> = f.errors.iter().map(ToString::to_string).collect();
            format!("workflow_ref `{reference}`: {}", errors.join("; "))
        })?;
    Ok(ChildWorkflow {
        reference: reference.to_owned(),
        plan,
    })
}

/// Runs a child workflow with these inputs as part of the parent's run
/// (shared events, budgets and cancellation; one level deeper) and returns
/// its `output` map: every node's output by id.
pub async fn run_child(
    child: &ChildWorkflow,
    ctx: &NodeCtx<'_>,
    inputs: Map<String, Value>,
) -> Result<Map<String, Value>, NodeError> {
    let depth = ctx.run.depth + 1;
    let ceiling = ctx.run.settings.depth_ceiling;
    if depth > ceiling {
        return Err(NodeError::new(
            ErrorKind::Budget,
            format!("budget exceeded: depth_ceiling is {ceiling}"),
        ));
    }
    let inputs = prepare_inputs(&child.plan, Value::Object(inputs)).map_err(|report| {
        NodeError::validation(format!(
            "inputs of workflow `{}`:\n{report}",
            child.reference
        ))
    })?;
    let run = RunShared {
        cancel: Arc::new(ctx.run.cancel.child_token()),
        settings: ResolvedSettings {
            depth_ceiling: ceiling,
            ..ResolvedSettings::resolve(&child.plan.settings)
        },
        depth,
        ..ctx.run.derived()
    };
    ctx.slot.release();
    let outcome = run_list(&child.plan.list, &run, ctx.runtime, &inputs, &[]).await;
    if outcome.stop == Some(Stop::Cancelled) {
        return Err(NodeError::new(ErrorKind::Cancelled, "cancelled"));
    }
    let mut output = Map::new();
    let mut failures = Vec::new();
    for (node, state) in child.plan.list.nodes.iter().zip(&outcome.states) {
        if let Some(out) = &state.output {
            output.insert(node.local_id.to_string(), Value::clone(out));
        }
        if state.status == NodeStatus::Failed {
            failures.push(format!(
                "Node {} failed: {}",
                node.local_id,
                state.error.as_deref().unwrap_or("unknown error")
            ));
        }
    }
    if failures.is_empty() {
        Ok(output)
    } else {
        Err(NodeError::tool(
            format!(
                "workflow `{}` failed: {}",
                child.reference,
                failures.join("; ")
            ),
            false,
        ))
    }
}
