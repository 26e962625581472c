//! Graph analysis of a blueprint's top-level node list (SPEC 7): levels and
//! their widths, roots and leaves, the critical path weighted by estimated
//! durations, slack, parallel groups, recursive cycles and the impact of a
//! node.
//!
//! A recursive node closes the one legal cycle: it depends on its sources,
//! and the edge back to them ([`graph::recursive_back_edges`]) is no
//! dependency here, as it is none for validation and scheduling. The
//! repetitions of the loop are counted in the recursive node's weight
//! instead (see [`RecursiveCycle`]).
//!
//! Every pass is linear in nodes plus dependencies.
//!
//! ```
//! use ice_core::analysis::analyze;
//! use ice_core::parse::{parse_blueprint, parse_text, Format};
//! use ice_core::Findings;
//!
//! let text = r#"[
//!   {"id": "fetch", "type": "tool", "tool_name": "echo"},
//!   {"id": "summarise", "type": "llm", "model": "m", "prompt": "p", "dependencies": ["fetch"]}
//! ]"#;
//! let mut f = Findings::default();
//! let doc = parse_text(text, Format::Json, &mut f).unwrap();
//! let analysis = analyze(&parse_blueprint(&doc, &mut f).unwrap().nodes);
//! assert_eq!(analysis.critical_path.nodes, ["fetch", "summarise"]);
//! assert_eq!(analysis.critical_path.total_ms, 100 + 2000);
//! ```

use crate::graph;
use crate::node::{NodeConfig, NodeKind, NodeType, RecursiveNode};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// `max_iterations` of a recursive node that sets none.
pub const DEFAULT_MAX_ITERATIONS: u64 = 50;

/// The estimated duration of one run of a node of this type, in ms, for
/// nodes without `metadata.estimated_duration_ms`: tool 100, llm 2000,
/// agent 5000, code 200, condition 1, loop 500 (item count unknown),
/// parallel 500, workflow 1000, recursive 1000 (one iteration), human 60000,
/// monitor 1, swarm 10000, custom types 100.
pub fn default_duration_ms(type_name: &str) -> u64 {
    match NodeType::from_name(type_name) {
        Some(NodeType::Tool) | None => 100,
        Some(NodeType::Llm) => 2_000,
        Some(NodeType::Agent) => 5_000,
        Some(NodeType::Code) => 200,
        Some(NodeType::Condition | NodeType::Monitor) => 1,
        Some(NodeType::Loop | NodeType::Parallel) => 500,
        Some(NodeType::Workflow | NodeType::Recursive) => 1_000,
        Some(NodeType::Human) => 60_000,
        Some(NodeType::Swarm) => 10_000,
    }
}

/// The analysis of a blueprint's top-level node list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphAnalysis {
    /// Node ids by level (the longest distance from a root), each level in
    /// document order.
    pub levels: Vec<Vec<String>>,
    /// The number of nodes of each level.
    pub level_widths: Vec<usize>,
    /// Nodes without dependencies, in document order.
    pub roots: Vec<String>,
    /// Nodes that nothing depends on, in document order.
    pub leaves: Vec<String>,
    /// One entry per recursive node, in document order.
    pub cycles: Vec<RecursiveCycle>,
    /// The longest path by estimated duration.
    pub critical_path: CriticalPath,
    /// Each node's weight on the critical path, in ms: its estimate, and for
    /// a recursive node the repetitions of its loop too.
    pub estimated_ms: IndexMap<String, u64>,
    /// How long each node can be delayed without delaying the workflow
    /// (latest start − earliest start), in ms; 0 on the critical path.
    pub slack_ms: IndexMap<String, u64>,
    /// Nodes that can run at the same time: the levels of two nodes or more.
    pub parallel_groups: Vec<Vec<String>>,
}

/// The loop a recursive node closes over its sources.
///
/// One iteration runs the sources, then the recursive node:
/// `iteration_ms` = the node's estimate + the sum of its sources'. The first
/// iteration is on the graph already (the sources precede the node), so the
/// node's weight is its estimate + (`estimated_iterations` − 1) ×
/// `iteration_ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecursiveCycle {
    /// The recursive node.
    pub node: String,
    /// Its `recursive_sources` that are nodes of the list.
    pub sources: Vec<String>,
    /// Iterations at most (`max_iterations`, 50 when absent).
    pub max_iterations: u64,
    /// `metadata.estimated_iterations`, else 1; within 1..=`max_iterations`.
    pub estimated_iterations: u64,
    /// The edges back, `[recursive node, source]`: not dependencies.
    pub edges_back: Vec<[String; 2]>,
    /// One iteration, in ms.
    pub iteration_ms: u64,
    /// The whole loop at `estimated_iterations`, in ms.
    pub estimated_ms: u64,
    /// The whole loop at `max_iterations`, in ms.
    pub worst_case_ms: u64,
}

/// The longest path through the graph by estimated duration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CriticalPath {
    /// Its nodes, first to last.
    pub nodes: Vec<String>,
    /// The sum of their weights, in ms: the estimated duration of the run.
    pub total_ms: u64,
}

/// What changing or failing one node touches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    /// The node.
    pub node: String,
    /// Every node that depends on it, directly or not, in document order.
    pub dependents: Vec<String>,
    /// The levels of the node and of its dependents, ascending.
    pub affected_levels: Vec<usize>,
}

/// Analyses the top-level node list of a validated blueprint. Dependencies
/// on unknown ids are ignored; back edges of recursive nodes are not
/// dependencies; a top-level node that a condition names in a path waits
/// for that condition, as when it runs.
pub fn analyze<'a>(nodes: impl IntoIterator<Item = &'a NodeConfig>) -> GraphAnalysis {
    let dag = Dag::new(nodes.into_iter().collect());
    let own: Vec<u64> = dag.nodes.iter().map(|n| own_estimate(n)).collect();
    let cycles = recursive_cycles(&dag, &own);
    let mut weight = own;
    for (i, cycle) in &cycles {
        weight[*i] = recursive_weight(weight[*i], cycle);
    }
    let schedule = Schedule::new(&dag, &weight);
    let levels = dag.levels();
    GraphAnalysis {
        level_widths: levels.iter().map(Vec::len).collect(),
        parallel_groups: levels.iter().filter(|l| l.len() >= 2).cloned().collect(),
        levels,
        roots: dag.ids_where(|i| dag.deps[i].is_empty()),
        leaves: dag.ids_where(|i| dag.dependents[i].is_empty()),
        cycles: cycles.into_iter().map(|(_, c)| c).collect(),
        critical_path: CriticalPath {
            nodes: schedule
                .critical_path(&dag, &weight)
                .map(|i| dag.id(i))
                .collect(),
            total_ms: schedule.total,
        },
        estimated_ms: dag.per_node(|i| weight[i]),
        slack_ms: dag.per_node(|i| schedule.slack(i)),
    }
}

/// The impact of the node `id` of the top-level list, `None` when there is
/// no such node. Back edges are not followed: the impact of a recursive
/// source holds its recursive node and that node's dependents, once.
pub fn impact<'a>(nodes: impl IntoIterator<Item = &'a NodeConfig>, id: &str) -> Option<Impact> {
    let dag = Dag::new(nodes.into_iter().collect());
    let start = *dag.index.get(id)?;
    let mut seen = vec![false; dag.len()];
    let mut stack = vec![start];
    while let Some(node) = stack.pop() {
        for &next in &dag.dependents[node] {
            if !seen[next] {
                seen[next] = true;
                stack.push(next);
            }
        }
    }
    let affected: BTreeSet<usize> = std::iter::once(start)
        .chain((0..dag.len()).filter(|&i| seen[i]))
        .map(|i| dag.level[i])
        .collect();
    Some(Impact {
        node: dag.id(start),
        dependents: dag.ids_where(|i| seen[i]),
        affected_levels: affected.into_iter().collect(),
    })
}

/// The dependency graph of a node list without back edges, as indexes.
struct Dag<'a> {
    nodes: Vec<&'a NodeConfig>,
    index: HashMap<&'a str, usize>,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    /// Every node, each after its dependencies.
    order: Vec<usize>,
    level: Vec<usize>,
}

impl<'a> Dag<'a> {
    fn new(nodes: Vec<&'a NodeConfig>) -> Self {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            index.entry(node.id()).or_insert(i);
        }
        let mut deps = dependencies(&nodes, &index);
        let order = topological_order(&deps);
        drop_edges_against(&order, &mut deps);
        let dependents = invert(&deps);
        let level = levels(&deps, &order);
        Dag {
            nodes,
            index,
            deps,
            dependents,
            order,
            level,
        }
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn id(&self, i: usize) -> String {
        self.nodes[i].id().to_owned()
    }

    /// Ids of the nodes for which `keep` holds, in document order.
    fn ids_where(&self, keep: impl Fn(usize) -> bool) -> Vec<String> {
        (0..self.len())
            .filter(|&i| keep(i))
            .map(|i| self.id(i))
            .collect()
    }

    /// A value per node id, in document order.
    fn per_node(&self, value: impl Fn(usize) -> u64) -> IndexMap<String, u64> {
        (0..self.len()).map(|i| (self.id(i), value(i))).collect()
    }

    /// Node ids by level, each level in document order.
    fn levels(&self) -> Vec<Vec<String>> {
        let count = self.level.iter().max().map_or(0, |&l| l + 1);
        let mut levels = vec![Vec::new(); count];
        for i in 0..self.len() {
            levels[self.level[i]].push(self.id(i));
        }
        levels
    }
}

/// Each node's dependencies as indexes, as the scheduler sees them
/// ([`graph::list_dependencies`]), sorted, without repeats and without the
/// node itself (which only a document that skipped validation has).
fn dependencies(nodes: &[&NodeConfig], index: &HashMap<&str, usize>) -> Vec<Vec<usize>> {
    let gates = graph::condition_gates(nodes, index);
    let mut deps = graph::list_dependencies(nodes, index, &gates);
    for (i, ds) in deps.iter_mut().enumerate() {
        ds.retain(|&d| d != i);
        ds.sort_unstable();
        ds.dedup();
    }
    deps
}

/// For each node, the nodes that depend on it.
fn invert(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); deps.len()];
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(node);
        }
    }
    dependents
}

/// Kahn's order, ties in document order. Nodes on a cycle (only in a
/// document that skipped validation) follow the others in document order.
fn topological_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let dependents = invert(deps);
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut order: Vec<usize> = (0..deps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut next = 0;
    while let Some(&node) = order.get(next) {
        next += 1;
        for &d in &dependents[node] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                order.push(d);
            }
        }
    }
    if order.len() < deps.len() {
        order.extend((0..deps.len()).filter(|&i| indegree[i] > 0));
    }
    order
}

/// Drops the dependencies on nodes that come later in `order`: none in a
/// validated document, the edges that close a cycle otherwise.
fn drop_edges_against(order: &[usize], deps: &mut [Vec<usize>]) {
    let mut rank = vec![0; order.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    for (i, ds) in deps.iter_mut().enumerate() {
        ds.retain(|&d| rank[d] < rank[i]);
    }
}

/// The longest distance of each node from a root.
fn levels(deps: &[Vec<usize>], order: &[usize]) -> Vec<usize> {
    let mut level = vec![0; deps.len()];
    for &i in order {
        level[i] = deps[i].iter().map(|&d| level[d] + 1).max().unwrap_or(0);
    }
    level
}

/// A number under `key` in a node's `metadata`, rounded; negative or
/// non-numeric values are ignored.
fn metadata_number(node: &NodeConfig, key: &str) -> Option<u64> {
    let value = node.common.metadata.as_ref()?.get(key)?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x.round() as u64)
    })
}

/// One run of a node: `metadata.estimated_duration_ms`, else the default of
/// its type.
fn own_estimate(node: &NodeConfig) -> u64 {
    metadata_number(node, "estimated_duration_ms")
        .unwrap_or_else(|| default_duration_ms(node.type_name()))
}

/// The cycle of every recursive node, with the node's index.
fn recursive_cycles(dag: &Dag, own: &[u64]) -> Vec<(usize, RecursiveCycle)> {
    dag.nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| match &node.kind {
            NodeKind::Recursive(r) => Some((i, recursive_cycle(dag, i, r, own))),
            _ => None,
        })
        .collect()
}

fn recursive_cycle(dag: &Dag, i: usize, r: &RecursiveNode, own: &[u64]) -> RecursiveCycle {
    let mut sources: Vec<usize> = r
        .recursive_sources
        .iter()
        .filter_map(|s| dag.index.get(s.as_str()).copied())
        .filter(|&s| s != i)
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let max_iterations = r.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS);
    let estimated_iterations = metadata_number(dag.nodes[i], "estimated_iterations")
        .unwrap_or(1)
        .clamp(1, max_iterations.max(1));
    let iteration_ms = sources
        .iter()
        .fold(own[i], |sum, &s| sum.saturating_add(own[s]));
    let node = dag.id(i);
    RecursiveCycle {
        edges_back: sources.iter().map(|&s| [node.clone(), dag.id(s)]).collect(),
        sources: sources.iter().map(|&s| dag.id(s)).collect(),
        node,
        max_iterations,
        estimated_iterations,
        iteration_ms,
        estimated_ms: iteration_ms.saturating_mul(estimated_iterations),
        worst_case_ms: iteration_ms.saturating_mul(max_iterations),
    }
}

/// A recursive node's weight: its own estimate plus the iterations after
/// the first, which the graph does not show.
fn recursive_weight(own: u64, cycle: &RecursiveCycle) -> u64 {
    let repeats = cycle.estimated_iterations.saturating_sub(1);
    own.saturating_add(repeats.saturating_mul(cycle.iteration_ms))
}

/// Earliest and latest start of every node, with unbounded parallelism.
struct Schedule {
    earliest: Vec<u64>,
    latest: Vec<u64>,
    total: u64,
}

impl Schedule {
    fn new(dag: &Dag, weight: &[u64]) -> Self {
        let finish = |start: &[u64], i: usize| start[i].saturating_add(weight[i]);
        let mut earliest = vec![0; dag.len()];
        for &i in &dag.order {
            earliest[i] = dag.deps[i]
                .iter()
                .map(|&d| finish(&earliest, d))
                .max()
                .unwrap_or(0);
        }
        let total = (0..dag.len())
            .map(|i| finish(&earliest, i))
            .max()
            .unwrap_or(0);
        let mut latest = vec![0; dag.len()];
        for &i in dag.order.iter().rev() {
            let latest_finish = dag.dependents[i]
                .iter()
                .map(|&d| latest[d])
                .min()
                .unwrap_or(total);
            latest[i] = latest_finish.saturating_sub(weight[i]);
        }
        Schedule {
            earliest,
            latest,
            total,
        }
    }

    fn slack(&self, i: usize) -> u64 {
        self.latest[i].saturating_sub(self.earliest[i])
    }

    /// The first node (in document order) that finishes last, then back
    /// through the dependency that finishes just when it starts.
    fn critical_path(&self, dag: &Dag, weight: &[u64]) -> impl Iterator<Item = usize> {
        let finish = |i: usize| self.earliest[i].saturating_add(weight[i]);
        let mut path = Vec::new();
        let mut current = (0..dag.len()).find(|&i| finish(i) == self.total);
        while let Some(node) = current {
            path.push(node);
            current = dag.deps[node]
                .iter()
                .copied()
                .find(|&d| finish(d) == self.earliest[node]);
        }
        path.into_iter().rev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Findings;
    use crate::parse::parse_blueprint;
    use serde_json::{json, Value};

    fn blueprint(nodes: Value) -> Vec<NodeConfig> {
        let mut f = Findings::default();
        let bp = parse_blueprint(&nodes, &mut f);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        bp.unwrap().nodes
    }

    fn tool(id: &str, deps: &[&str], ms: u64) -> Value {
        json!({"id": id, "type": "tool", "tool_name": "echo", "dependencies": deps,
               "metadata": {"estimated_duration_ms": ms}})
    }

    fn names(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    /// draft ⇄ refine → publish, the back edge written into `draft`'s
    /// dependencies or not.
    fn recursive(back_edge: bool, metadata: Value) -> Vec<NodeConfig> {
        let draft_deps: &[&str] = if back_edge { &["refine"] } else { &[] };
        blueprint(json!([
            tool("draft", draft_deps, 100),
            {"id": "refine", "type": "recursive", "dependencies": ["draft"],
             "recursive_sources": ["draft"], "workflow_ref": "step.json",
             "convergence_condition": "result.ok", "metadata": metadata},
            tool("publish", &["refine"], 100),
        ]))
    }

    #[test]
    fn a_diamond() {
        let a = analyze(&blueprint(json!([
            tool("a", &[], 100),
            tool("b", &["a"], 300),
            tool("c", &["a"], 100),
            tool("d", &["b", "c"], 100),
        ])));
        assert_eq!(
            a.levels,
            vec![names(&["a"]), names(&["b", "c"]), names(&["d"])]
        );
        assert_eq!(a.level_widths, [1, 2, 1]);
        assert_eq!(a.roots, ["a"]);
        assert_eq!(a.leaves, ["d"]);
        assert_eq!(a.critical_path.nodes, ["a", "b", "d"]);
        assert_eq!(a.critical_path.total_ms, 500);
        assert_eq!(a.slack_ms["c"], 200);
        assert_eq!(a.parallel_groups, vec![names(&["b", "c"])]);
        assert!(a.cycles.is_empty());
    }

    #[test]
    fn a_chain() {
        let a = analyze(&blueprint(json!([
            tool("c", &["b"], 10),
            tool("b", &["a"], 20),
            tool("a", &[], 30),
        ])));
        assert_eq!(a.levels, vec![names(&["a"]), names(&["b"]), names(&["c"])]);
        assert_eq!(a.critical_path.nodes, ["a", "b", "c"]);
        assert_eq!(a.critical_path.total_ms, 60);
        assert!(a.parallel_groups.is_empty());
        assert!(a.slack_ms.values().all(|&s| s == 0));
    }

    #[test]
    fn levels_widths_and_type_defaults() {
        let a = analyze(&blueprint(json!([
            {"id": "ask", "type": "llm", "model": "m", "prompt": "p"},
            {"id": "t1", "type": "tool", "tool_name": "echo"},
            {"id": "t2", "type": "tool", "tool_name": "echo"},
            {"id": "act", "type": "agent", "package": "x", "dependencies": ["ask", "t1", "ghost"]},
            {"id": "end", "type": "tool", "tool_name": "echo", "dependencies": ["act", "t2"]},
        ])));
        assert_eq!(a.level_widths, [3, 1, 1]);
        assert_eq!(a.levels[0], names(&["ask", "t1", "t2"]));
        assert_eq!(a.leaves, ["end"]);
        assert_eq!(a.estimated_ms["ask"], 2_000);
        assert_eq!(a.estimated_ms["act"], 5_000);
        assert_eq!(a.critical_path.nodes, ["ask", "act", "end"]);
        assert_eq!(a.critical_path.total_ms, 7_100);
        assert_eq!(a.slack_ms["t1"], 1_900);
        assert_eq!(a.slack_ms["t2"], 6_900);
    }

    #[test]
    fn a_recursive_cycle_written_both_ways_is_the_same_graph() {
        let with = analyze(&recursive(true, json!({})));
        let without = analyze(&recursive(false, json!({})));
        assert_eq!(with, without);
        assert_eq!(
            with.levels,
            vec![names(&["draft"]), names(&["refine"]), names(&["publish"])]
        );
        assert_eq!(with.roots, ["draft"]);
        assert_eq!(with.critical_path.nodes, ["draft", "refine", "publish"]);
        assert_eq!(with.critical_path.total_ms, 100 + 1_000 + 100);
        let cycle = &with.cycles[0];
        assert_eq!(cycle.node, "refine");
        assert_eq!(cycle.sources, ["draft"]);
        assert_eq!(
            cycle.edges_back,
            [["refine".to_owned(), "draft".to_owned()]]
        );
        assert_eq!((cycle.max_iterations, cycle.estimated_iterations), (50, 1));
        assert_eq!(cycle.worst_case_ms, 50 * 1_100);
    }

    #[test]
    fn estimated_iterations_weigh_the_recursive_node() {
        let metadata = json!({"estimated_duration_ms": 1_000, "estimated_iterations": 3});
        let a = analyze(&recursive(true, metadata));
        assert_eq!(a.estimated_ms["refine"], 1_000 + 2 * (1_000 + 100));
        assert_eq!(a.critical_path.total_ms, 100 + 3_200 + 100);
        let cycle = &a.cycles[0];
        assert_eq!(cycle.iteration_ms, 1_100);
        assert_eq!(cycle.estimated_ms, 3 * 1_100);
        assert_eq!(cycle.worst_case_ms, 50 * 1_100);
    }

    #[test]
    fn slack_is_zero_on_the_critical_path_only() {
        let a = analyze(&blueprint(json!([
            tool("a", &[], 50),
            tool("b", &[], 10),
            tool("c", &["a"], 50),
            tool("d", &["b"], 10),
            tool("e", &["c", "d"], 5),
            tool("f", &["b"], 1),
        ])));
        assert_eq!(a.critical_path.nodes, ["a", "c", "e"]);
        for (id, slack) in &a.slack_ms {
            let on_path = a.critical_path.nodes.contains(id);
            assert_eq!(*slack == 0, on_path, "{id}: {slack}");
        }
        assert_eq!(a.slack_ms["f"], 105 - 11);
    }

    #[test]
    fn the_impact_of_a_source_goes_through_its_recursive_node_once() {
        let bp = recursive(true, json!({}));
        let impact = impact(&bp, "draft").unwrap();
        assert_eq!(impact.dependents, ["refine", "publish"]);
        assert_eq!(impact.affected_levels, [0, 1, 2]);
        let publish = super::impact(&bp, "publish").unwrap();
        assert!(publish.dependents.is_empty());
        assert_eq!(publish.affected_levels, [2]);
        assert!(super::impact(&bp, "ghost").is_none());
    }

    #[test]
    fn a_condition_gates_the_nodes_its_paths_name() {
        let a = analyze(&blueprint(json!([
            {"id": "check", "type": "condition", "expression": "true", "true_path": ["yes"]},
            tool("yes", &[], 100),
        ])));
        assert_eq!(a.levels, vec![names(&["check"]), names(&["yes"])]);
    }

    #[test]
    fn an_unvalidated_cycle_does_not_panic() {
        let a = analyze(&blueprint(json!([
            tool("a", &["b"], 1),
            tool("b", &["a"], 1),
            tool("c", &["c"], 1),
        ])));
        assert_eq!(a.levels.iter().map(Vec::len).sum::<usize>(), 3);
        assert!(a.critical_path.total_ms >= 1);
        assert_eq!(
            analyze(&blueprint(json!([]))).critical_path,
            CriticalPath::default()
        );
    }
}
