//! The network as a graph (nodes, weighted edges) and pruning by edge list, as networkx users work.

use super::graph::{Edge, NetworkGraph, Node};
use super::Mlp;
use crate::error::{Error, Result};

impl Mlp {
    /// The network as a graph.
    ///
    /// ```
    /// use prunelab::prelude::*;
    ///
    /// let mut model = Mlp::config(&[1, 128, 128, 128, 128, 2]).topology(Topology::DenselyConnected).build()?;
    /// let g = model.graph();
    /// assert_eq!(g.edges.len(), 99_842);
    /// // Remove every connection with |w| < 0.1, as connex's remove_connections does.
    /// let weak: Vec<(usize, usize)> = model.edges().iter().filter(|e| e.weight.abs() < 0.1).map(|e| (e.from, e.to)).collect();
    /// model.remove_connections(&weak)?;
    /// assert_eq!(model.edges().len(), 99_842 - weak.len());
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn graph(&self) -> NetworkGraph {
        let mut layer_sizes = vec![self.n_inputs()];
        layer_sizes.extend(self.layers().iter().map(|l| l.n_outputs()));
        let mut nodes = Vec::new();
        for (layer, &size) in layer_sizes.iter().enumerate() {
            for index in 0..size {
                nodes.push(Node {
                    id: nodes.len(),
                    layer,
                    index,
                });
            }
        }
        let mut edges = Vec::with_capacity(self.n_weights());
        for (k, l) in self.layers().iter().enumerate() {
            let inputs = self.input_range(k);
            let out = self.output_range(k);
            for u in 0..l.n_outputs() {
                for (c, from) in inputs.clone().enumerate() {
                    edges.push(Edge {
                        from,
                        to: out.start + u,
                        weight: l.weight[[u, c]],
                        pruned: !l.is_kept(u, c),
                    });
                }
            }
        }
        NetworkGraph {
            nodes,
            edges,
            layer_sizes,
        }
    }

    /// The kept connections as a weighted edge list.
    pub fn edges(&self) -> Vec<Edge> {
        self.graph()
            .edges
            .into_iter()
            .filter(|e| !e.pruned)
            .collect()
    }

    /// Prunes the given connections `(from, to)`; returns how many were newly removed. Fails, changing
    /// nothing, if a pair is not a connection of this network.
    pub fn remove_connections(&mut self, edges: &[(usize, usize)]) -> Result<usize> {
        let mut targets = Vec::with_capacity(edges.len());
        for &(from, to) in edges {
            let k = (0..self.n_layers())
                .find(|&k| self.output_range(k).contains(&to))
                .ok_or_else(|| {
                    Error::Incompatible(format!("node {to} is not a unit of this network"))
                })?;
            let inputs = self.input_range(k);
            if !inputs.contains(&from) {
                return Err(Error::Incompatible(format!(
                    "there is no connection from node {from} to node {to}"
                )));
            }
            targets.push((k, to - self.output_range(k).start, from - inputs.start));
        }
        Ok(targets
            .into_iter()
            .filter(|&(k, u, c)| self.layers[k].prune_entry(u, c))
            .count())
    }
}
