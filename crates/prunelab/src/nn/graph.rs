//! The network as a graph: nodes per layer and weighted edges, what networkx would hold
//! ([`Mlp::graph`](super::Mlp::graph) builds it).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// A node: a network input or a unit. Ids count inputs first, then each layer's units in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Node id.
    pub id: usize,
    /// Graph layer: 0 for inputs, `k + 1` for the units of network layer `k`.
    pub layer: usize,
    /// Position within its graph layer.
    pub index: usize,
}

/// A weighted connection from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Source node id.
    pub from: usize,
    /// Target node id.
    pub to: usize,
    /// The weight.
    pub weight: f32,
    /// Whether the connection is pruned (its weight is then zero).
    pub pruned: bool,
}

/// Nodes and edges of a network, pruned edges included and flagged, for drawing and export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkGraph {
    /// Every node.
    pub nodes: Vec<Node>,
    /// Every connection.
    pub edges: Vec<Edge>,
    /// Number of nodes in each graph layer (inputs first).
    pub layer_sizes: Vec<usize>,
}

impl NetworkGraph {
    /// The kept edges as CSV `source,target,weight`, ready for `networkx.read_weighted_edgelist` style
    /// loaders.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("source,target,weight\n");
        for e in self.edges.iter().filter(|e| !e.pruned) {
            let _ = writeln!(out, "{},{},{}", e.from, e.to, e.weight);
        }
        out
    }

    /// Number of kept edges.
    pub fn n_kept(&self) -> usize {
        self.edges.iter().filter(|e| !e.pruned).count()
    }
}
