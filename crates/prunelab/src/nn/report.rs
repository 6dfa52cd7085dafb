//! The pruning report: kept and pruned weights, units and multiply-adds per layer and in total.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Pruning figures of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Layer index.
    pub layer: usize,
    /// Inputs of the layer.
    pub inputs: usize,
    /// Units of the layer.
    pub units: usize,
    /// Weights (connections) of the layer.
    pub weights: usize,
    /// Weights not pruned.
    pub remaining: usize,
    /// Fraction of weights pruned.
    pub sparsity: f64,
    /// Units whose output depends on the input and is used downstream.
    pub live_units: usize,
    /// Multiply-accumulates per sample after compaction: kept weights between live units.
    pub macs: usize,
    /// Every unit of the layer is dead (in a chain this cuts the network: its output becomes constant).
    pub dead: bool,
}

/// Pruning figures per layer and in total, from [`Mlp::prune_report`](super::Mlp::prune_report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    /// One entry per layer.
    pub layers: Vec<LayerReport>,
    /// Total weights.
    pub weights: usize,
    /// Total weights not pruned.
    pub remaining: usize,
    /// Overall fraction pruned.
    pub sparsity: f64,
    /// Total multiply-accumulates per sample after compaction.
    pub macs: usize,
}

impl PruneReport {
    /// Whether no path from the input to the output survives, so the network output is a constant.
    pub fn output_is_constant(&self) -> bool {
        self.layers.last().is_some_and(|l| l.dead)
    }
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>5} {:>12} {:>10} {:>10} {:>8} {:>11} {:>10}",
            "layer", "shape", "weights", "remaining", "sparsity", "live units", "MACs"
        )?;
        for l in &self.layers {
            writeln!(
                f,
                "{:>5} {:>12} {:>10} {:>10} {:>7.1}% {:>11} {:>10}{}",
                l.layer,
                format!("{}x{}", l.units, l.inputs),
                l.weights,
                l.remaining,
                100.0 * l.sparsity,
                format!("{}/{}", l.live_units, l.units),
                l.macs,
                if l.dead { "  (no live unit)" } else { "" }
            )?;
        }
        write!(
            f,
            "{:>5} {:>12} {:>10} {:>10} {:>7.1}% {:>11} {:>10}",
            "total",
            "",
            self.weights,
            self.remaining,
            100.0 * self.sparsity,
            "",
            self.macs
        )?;
        if self.output_is_constant() {
            write!(
                f,
                "\nno path from the input to the output survives: the output is constant"
            )?;
        }
        Ok(())
    }
}
