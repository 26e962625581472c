//! The plan: a validated blueprint compiled for running. Ids become
//! indexes, dependencies become counters' inputs, templates are compiled and
//! every node has its executor. Built once per workflow, shared by its runs.

use crate::executor::{NodeExecutor, PrepareCtx, Prepared};
use crate::runtime::Runtime;
use ice_core::diagnostic::{Code, Findings};
use ice_core::node::{InputMapping, NodeConfig, NodeKind, RetryPolicy};
use ice_core::template::ValueTemplate;
use ice_core::validate::templated_fields;
use ice_core::{graph, Blueprint, RunSettings};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What compiling a document needs besides the document.
#[derive(Clone, Copy)]
pub struct BuildEnv<'a> {
    /// Tools and executors.
    pub runtime: &'a Runtime,
    /// The directory of the document, for relative `workflow_ref`s.
    pub base_dir: Option<&'a Path>,
    /// The sub-workflows being compiled, outermost first, to refuse a
    /// workflow that includes itself.
    pub chain: &'a [String],
}

/// Where an input mapping takes its value.
#[derive(Debug, Clone)]
pub enum MappingSource {
    /// A path into a dependency's output: (dependency index, dotted path).
    Node(usize, String),
    /// A literal.
    Literal(Arc<Value>),
}

/// One node, ready to run.
pub struct PlanNode {
    /// The config as written.
    pub config: NodeConfig,
    /// The id in results and events (`parent.child` when inline).
    pub id: Arc<str>,
    /// The id within its list (the context key dependents use).
    pub local_id: Arc<str>,
    /// Indexes of its dependencies in the list.
    pub deps: Vec<usize>,
    /// Indexes of the nodes that depend on it.
    pub dependents: Vec<usize>,
    /// Longest distance from a root.
    pub level: usize,
    /// Runs it.
    pub executor: Arc<dyn NodeExecutor>,
    /// What the executor compiled for it.
    pub prepared: Prepared,
    /// Retries in force.
    pub retry: RetryPolicy,
    /// Per-attempt timeout set by the node (else the run's default).
    pub timeout: Option<Duration>,
    /// Input mappings, resolved.
    pub mappings: Vec<(String, MappingSource)>,
    /// `input_selection`.
    pub selection: Option<Arc<[String]>>,
    /// Variables the node's templates read that only run inputs can give.
    pub input_needs: Vec<String>,
    /// For a node named in a condition's path: the condition's index and
    /// the branch (`true`/`false`) on which the node runs.
    pub gate: Option<(usize, bool)>,
}

/// A node list (the top level, or an inline list) in document order.
pub struct NodeList {
    /// The nodes.
    pub nodes: Vec<PlanNode>,
    /// Number of levels.
    pub level_count: usize,
}

/// A compiled workflow.
pub struct Plan {
    /// The workflow's name.
    pub name: String,
    /// The top-level nodes.
    pub list: NodeList,
    /// Settings given by the document.
    pub settings: RunSettings,
    /// The `outputs` projection.
    pub outputs: Vec<(String, ValueTemplate)>,
    /// Declared run inputs.
    pub declared_inputs: IndexMap<String, Value>,
}

impl Plan {
    /// Compiles a validated blueprint. Problems that only show when
    /// compiling (an executor refusing a node) are reported in `f`.
    /// `prefix` is the id of the node that runs it as a sub-workflow (empty
    /// for a run's own plan): its nodes' ids in events start with it.
    pub fn build(bp: Blueprint, prefix: &str, env: BuildEnv<'_>, f: &mut Findings) -> Option<Plan> {
        let name = bp.name();
        let list = build_list(bp.nodes, prefix, &HashSet::new(), env, f)?;
        let mut outputs = Vec::new();
        for (name, value) in &bp.header.outputs {
            match ValueTemplate::compile(value) {
                Ok(t) => outputs.push((name.clone(), t)),
                Err(e) => f.error(
                    Code::TemplateSyntax,
                    None,
                    format!("$.outputs.{name}"),
                    e.message,
                ),
            }
        }
        Some(Plan {
            name,
            list,
            settings: bp.settings,
            outputs,
            declared_inputs: bp.header.inputs,
        })
    }
}

/// Compiles one node list. `scope` holds names the enclosing nodes provide.
pub fn build_list(
    nodes: Vec<NodeConfig>,
    prefix: &str,
    scope: &HashSet<String>,
    env: BuildEnv<'_>,
    f: &mut Findings,
) -> Option<NodeList> {
    let runtime = env.runtime;
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    let gates = graph::condition_gates(&nodes, &index);
    let deps = graph::list_dependencies(&nodes, &index, &gates);
    let levels = match graph::levels(&deps) {
        Ok(levels) => levels,
        Err(_) => {
            f.error(Code::Cycle, None, "$.nodes", "the node list has a cycle");
            return None;
        }
    };
    let mut dependents = vec![Vec::new(); nodes.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mappings: Vec<Vec<(String, MappingSource)>> = nodes
        .iter()
        .map(|node| resolve_mappings(node, &index))
        .collect();
    let count = nodes.len();
    // Recursive nodes run their sources again: they need the configs.
    let siblings: Vec<NodeConfig> = if nodes
        .iter()
        .any(|n| matches!(n.kind, NodeKind::Recursive(_)))
    {
        nodes.clone()
    } else {
        Vec::new()
    };
    let mut plan_nodes = Vec::with_capacity(count);
    for (i, (((node, deps), mappings), gate)) in nodes
        .into_iter()
        .zip(deps)
        .zip(mappings)
        .zip(gates)
        .enumerate()
    {
        let Some(executor) = runtime.executors().get(node.type_name()).cloned() else {
            f.error(
                Code::UnknownNodeType,
                Some(node.id()),
                format!("$.nodes[{i}].type"),
                format!("no executor for node type `{}`", node.type_name()),
            );
            continue;
        };
        let id: Arc<str> = if prefix.is_empty() {
            node.id().into()
        } else {
            format!("{prefix}.{}", node.id()).into()
        };
        let prepared = match executor.prepare(
            &node,
            &PrepareCtx {
                id: &id,
                env,
                siblings: &siblings,
            },
        ) {
            Ok(p) => p,
            Err(e) => {
                f.error(e.code, Some(node.id()), format!("$.nodes[{i}]"), e.message);
                continue;
            }
        };
        let input_needs = input_needs(&node, scope);
        plan_nodes.push(PlanNode {
            local_id: node.id().into(),
            id,
            deps,
            dependents: std::mem::take(&mut dependents[i]),
            level: levels[i],
            executor,
            prepared,
            retry: node.common.effective_retry(),
            timeout: node.common.timeout_seconds.map(Duration::from_secs_f64),
            mappings,
            selection: node.common.input_selection.clone().map(Into::into),
            input_needs,
            gate,
            config: node,
        });
    }
    if plan_nodes.len() != count {
        return None;
    }
    Some(NodeList {
        level_count: levels.iter().max().map_or(0, |l| l + 1),
        nodes: plan_nodes,
    })
}

/// A node's input mappings with sources as indexes into its list.
fn resolve_mappings(
    node: &NodeConfig,
    index: &HashMap<&str, usize>,
) -> Vec<(String, MappingSource)> {
    node.common
        .input_mappings
        .iter()
        .filter_map(|(key, m)| {
            let source = match m {
                InputMapping::FromNode {
                    source_node_id,
                    source_output_key,
                } => MappingSource::Node(
                    *index.get(source_node_id.as_str())?,
                    source_output_key.clone(),
                ),
                InputMapping::Literal(v) => MappingSource::Literal(Arc::new(v.clone())),
            };
            Some((key.clone(), source))
        })
        .collect()
}

/// The variables a node's templates read that neither its dependencies, its
/// mappings nor the enclosing scope provide: they must be run inputs.
fn input_needs(node: &NodeConfig, scope: &HashSet<String>) -> Vec<String> {
    let mut needs: Vec<String> = Vec::new();
    for field in templated_fields(node) {
        if !field.checks_context {
            continue;
        }
        let vars = field.analyse().unwrap_or_default();
        for var in vars {
            let provided = var == "inputs"
                || scope.contains(&var)
                || field.own_names.contains(&var.as_str())
                || node.common.dependencies.contains(&var)
                || node.common.input_mappings.contains_key(&var);
            if !provided && !needs.contains(&var) {
                needs.push(var);
            }
        }
    }
    needs
}
