//! `recursive` nodes: the one legal cycle. Each iteration runs the node's
//! workflow (or its agent, with the context as JSON for its question);
//! until `convergence_condition` holds, the sources run again with the last
//! result under `context_key` (and the `history` of results when
//! `preserve_context`), then the workflow or agent again.

use super::inline;
use super::workflow_node::{compile_child, run_child, ChildWorkflow};
use crate::agent::CompiledAgent;
use crate::error::NodeError;
use crate::executor::{NodeCtx, NodeExecutor, PrepareCtx, PrepareError, Prepared};
use crate::plan::NodeList;
use async_trait::async_trait;
use ice_core::node::{NodeConfig, NodeKind};
use ice_core::template::CompiledExpression;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Iterations when the node sets no `max_iterations`.
const DEFAULT_MAX_ITERATIONS: u64 = 50;

/// Runs `recursive` nodes.
pub struct RecursiveExecutor;

/// What one iteration runs.
enum Body {
    Workflow(Box<ChildWorkflow>),
    Agent(Box<CompiledAgent>),
}

struct PreparedRecursive {
    body: Body,
    sources: NodeList,
    convergence: Option<CompiledExpression>,
    max_iterations: u64,
    preserve_context: bool,
    context_key: Arc<str>,
}

#[async_trait]
impl NodeExecutor for RecursiveExecutor {
    fn prepare(&self, node: &NodeConfig, ctx: &PrepareCtx<'_>) -> Result<Prepared, PrepareError> {
        let NodeKind::Recursive(r) = &node.kind else {
            return Err(format!("node `{}` is not a recursive node", node.id()).into());
        };
        let body = match (&r.workflow_ref, &r.agent_package) {
            (Some(reference), None) => Body::Workflow(Box::new(compile_child(reference, ctx)?)),
            (None, Some(package)) => {
                Body::Agent(Box::new(CompiledAgent::package(package, ctx.env.runtime)?))
            }
            _ => {
                return Err(format!(
                    "recursive node `{}` needs exactly one of workflow_ref and agent_package",
                    node.id()
                )
                .into())
            }
        };
        let sources: Vec<&NodeConfig> = ctx
            .siblings
            .iter()
            .filter(|s| r.recursive_sources.iter().any(|id| id == s.id()))
            .collect();
        if sources.len() != r.recursive_sources.len() {
            return Err(format!(
                "recursive node `{}`: every recursive source must be a node of its list",
                node.id()
            )
            .into());
        }
        let context_key = r
            .context_key
            .clone()
            .unwrap_or_else(|| "recursive_context".into());
        Ok(Some(Arc::new(PreparedRecursive {
            body,
            sources: inline::compile(&sources, node, ctx, &[&context_key, "history"])?,
            convergence: r
                .convergence_condition
                .as_deref()
                .map(CompiledExpression::compile)
                .transpose()
                .map_err(|e| e.message)?,
            max_iterations: r.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS).max(1),
            preserve_context: r.preserve_context.unwrap_or(true),
            context_key: context_key.into(),
        })))
    }

    async fn execute(&self, ctx: &NodeCtx<'_>) -> Result<Value, NodeError> {
        let p: &PreparedRecursive = ctx
            .prepared()
            .ok_or_else(|| NodeError::validation("recursive node was not prepared"))?;
        // The sources' outputs the workflow sees: first those of the run,
        // then those of each repetition.
        let mut source_outputs: Map<String, Value> = Map::new();
        let mut history: Vec<Value> = Vec::new();
        for iteration in 1..=p.max_iterations {
            if let Some(last) = history.last() {
                let mut extra = vec![(p.context_key.clone(), Arc::new(last.clone()))];
                if p.preserve_context {
                    extra.push(("history".into(), Arc::new(Value::Array(history.clone()))));
                }
                let outcome = inline::run(&p.sources, ctx, ctx.run, extra).await;
                if let Some(error) = inline::failure(&p.sources, &outcome) {
                    return Err(NodeError {
                        message: format!("iteration {iteration}: {}", error.message),
                        ..error
                    });
                }
                for (node, state) in p.sources.nodes.iter().zip(&outcome.states) {
                    if let Some(out) = &state.output {
                        source_outputs.insert(node.local_id.to_string(), Value::clone(out));
                    }
                }
            }
            let mut inputs = ctx.context().as_child_inputs();
            inputs.extend(source_outputs.clone());
            if let Some(last) = history.last() {
                inputs.insert(p.context_key.to_string(), last.clone());
            }
            let result = match &p.body {
                Body::Workflow(child) => Value::Object(run_child(child, ctx, inputs).await?),
                Body::Agent(agent) => agent.run(Value::Object(inputs).to_string(), ctx).await?,
            };
            history.push(result.clone());
            let converged = match &p.convergence {
                None => true,
                Some(condition) => {
                    let mut scope = ctx.context().derived();
                    for (k, v) in &source_outputs {
                        scope.insert(k.as_str().into(), Arc::new(v.clone()));
                    }
                    scope.insert("result".into(), Arc::new(result.clone()));
                    scope.insert("iteration".into(), Arc::new(json!(iteration)));
                    scope.insert("history".into(), Arc::new(Value::Array(history.clone())));
                    condition.eval_bool(&scope.into_jinja())?
                }
            };
            if converged {
                return Ok(
                    json!({"result": result, "converged": true, "iterations": iteration, "history": history}),
                );
            }
        }
        Err(NodeError::validation(format!(
            "did not converge within max_iterations ({})",
            p.max_iterations
        )))
    }
}
