//! The dependency graph of one node list: levels (longest distance from a
//! root), cycles, on petgraph; the back edges of recursive nodes; each
//! node's dependencies as indexes, condition gates included.

use crate::node::{NodeConfig, NodeKind, PathItem};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

/// `(source, recursive node)` pairs, from each recursive node's id and its
/// `recursive_sources`. A source that lists its recursive node in
/// `dependencies` (as iceOS documents do) declares the loop's back edge,
/// which is not a dependency: the one legal cycle.
pub fn back_edges<'a, S>(
    recursive: impl IntoIterator<Item = (&'a str, &'a [S])>,
) -> HashSet<(&'a str, &'a str)>
where
    S: AsRef<str> + 'a,
{
    recursive
        .into_iter()
        .flat_map(|(id, sources)| sources.iter().map(move |s| (s.as_ref(), id)))
        .collect()
}

/// [`back_edges`] of the recursive nodes of a typed node list.
pub fn recursive_back_edges<N: Borrow<NodeConfig>>(nodes: &[N]) -> HashSet<(&str, &str)> {
    back_edges(nodes.iter().filter_map(|n| match &n.borrow().kind {
        NodeKind::Recursive(r) => Some((n.borrow().id(), r.recursive_sources.as_slice())),
        _ => None,
    }))
}

/// For each node of a list, the condition (index) whose path names it and
/// the branch it is on.
pub fn condition_gates<N: Borrow<NodeConfig>>(
    nodes: &[N],
    index: &HashMap<&str, usize>,
) -> Vec<Option<(usize, bool)>> {
    let mut gates = vec![None; nodes.len()];
    for (c, node) in nodes.iter().enumerate() {
        let NodeKind::Condition(cond) = &node.borrow().kind else {
            continue;
        };
        for (branch, items) in [(true, &cond.true_path), (false, &cond.false_path)] {
            for item in items {
                if let PathItem::Name(name) = item {
                    if let Some(&target) = index.get(name.as_str()) {
                        gates[target] = Some((c, branch));
                    }
                }
            }
        }
    }
    gates
}

/// Each node's dependencies as indexes into its list, in the order it lists
/// them: the ids that name nodes of the list, less recursive back edges,
/// then the condition that gates it (see [`condition_gates`]), which it
/// waits for even when it does not say so.
pub fn list_dependencies<N: Borrow<NodeConfig>>(
    nodes: &[N],
    index: &HashMap<&str, usize>,
    gates: &[Option<(usize, bool)>],
) -> Vec<Vec<usize>> {
    let back_edges = recursive_back_edges(nodes);
    nodes
        .iter()
        .map(Borrow::borrow)
        .zip(gates)
        .map(|(n, gate)| {
            let mut deps: Vec<usize> = n
                .common
                .dependencies
                .iter()
                .filter(|d| !back_edges.contains(&(n.id(), d.as_str())))
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect();
            if let Some((c, _)) = gate {
                if !deps.contains(c) {
                    deps.push(*c);
                }
            }
            deps
        })
        .collect()
}

/// Levels of the nodes of a list, given each node's dependencies as indexes
/// into the list. `Err` holds one cycle, as indexes in dependency order.
pub fn levels(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(node);
        }
    }
    let mut level = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(node) = queue.pop() {
        seen += 1;
        for &next in &dependents[node] {
            level[next] = level[next].max(level[node] + 1);
            indegree[next] -= 1;
            if indegree[next] == 0 {
                queue.push(next);
            }
        }
    }
    if seen == n {
        Ok(level)
    } else {
        Err(find_cycle(deps))
    }
}

/// One cycle of the graph (empty when there is none).
pub fn find_cycle(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut graph = DiGraph::<(), ()>::with_capacity(deps.len(), deps.len());
    for _ in 0..deps.len() {
        graph.add_node(());
    }
    for (node, ds) in deps.iter().enumerate() {
        for &d in ds {
            graph.add_edge(NodeIndex::new(d), NodeIndex::new(node), ());
        }
    }
    let Some(component) = tarjan_scc(&graph)
        .into_iter()
        .find(|c| c.len() > 1 || deps[c[0].index()].contains(&c[0].index()))
    else {
        return Vec::new();
    };
    // Walk the component from its first node along dependency edges that
    // stay inside it, until a node repeats: that loop is the cycle.
    let inside: std::collections::HashSet<usize> = component.iter().map(|i| i.index()).collect();
    let mut path = vec![component[0].index()];
    loop {
        let last = *path.last().expect("non-empty");
        let next = deps[last]
            .iter()
            .copied()
            .find(|d| inside.contains(d))
            .expect("a strongly connected component has an inner edge");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle = path.split_off(pos);
            cycle.reverse();
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_longest_distance_from_a_root() {
        assert_eq!(
            levels(&[vec![], vec![0], vec![0, 1], vec![]]),
            Ok(vec![0, 1, 2, 0])
        );
    }

    #[test]
    fn a_cycle_is_returned() {
        let cycle = levels(&[vec![1], vec![0], vec![]]).unwrap_err();
        let mut sorted = cycle.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1]);
    }
}
