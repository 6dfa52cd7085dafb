//! The stored form of a network, masks included, shared by the JSON and the compact checksummed binary.
//!
//! Pruned layers store only their kept weights, with the mask as a bitmap or as delta-coded indices
//! (whichever is smaller), so files shrink with sparsity. Loading validates everything (format tag, version, checksum, shapes, indices, finiteness, the
//! topology) and reports a corrupt, truncated or mismatched file as [`Error::Format`].

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::{Activation, Dense, Topology};
use crate::error::Error;

const FORMAT: &str = "prunelab-mlp";
pub(super) const VERSION: u32 = 1;
pub(super) const MAGIC: &[u8; 8] = b"PRUNELAB";
pub(super) const HEADER: usize = 8 + 4 + 8 + 4;

/// Weights any file may claim, whatever it holds: 4M (16 MB), more than the notebooks' largest network
/// (2.4M) needs at any sparsity.
pub const FREE_WEIGHTS: usize = 1 << 22;
/// Weights a file may claim beyond [`FREE_WEIGHTS`] per value it actually holds (a stored weight, bias, gap,
/// or 8 bits of a mask): a network pruned to 99.9% still loads, while a few bytes claiming billions of
/// weights are a format error, not an allocation.
pub const WEIGHTS_PER_VALUE: usize = 1024;

/// The weights of a layer as stored; a masked layer uses whichever of the last two forms is smaller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Weights {
    /// Every weight, row-major (no mask).
    Full { values: Vec<f32> },
    /// The mask as a bitmap (bit `i % 8` of byte `i / 8` set = kept), and the kept weights in order.
    Bitmap {
        kept_bits: Vec<u8>,
        values: Vec<f32>,
    },
    /// Gaps between successive kept flat indices, and the kept weights in order.
    Sparse {
        kept_gaps: Vec<u32>,
        values: Vec<f32>,
    },
}

/// Bytes a postcard varint of `v` takes.
fn varint_len(v: u32) -> usize {
    (32 - v.leading_zeros()).max(1).div_ceil(7) as usize
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LayerFile {
    inputs: usize,
    units: usize,
    activation: Activation,
    weights: Weights,
    bias: Option<Vec<f32>>,
    /// Units whose bias is pruned.
    pruned_biases: Vec<u32>,
}

/// The serialised form of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelFile {
    format: String,
    version: u32,
    n_inputs: usize,
    topology: Topology,
    layers: Vec<LayerFile>,
}

impl LayerFile {
    /// `units x inputs`, or an error naming layer `k` when that is zero or overflows.
    fn n_weights(&self, k: usize) -> std::result::Result<usize, String> {
        self.inputs
            .checked_mul(self.units)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("layer {k}: bad shape {}x{}", self.units, self.inputs))
    }
}

fn gaps(indices: impl Iterator<Item = usize>) -> Vec<u32> {
    let mut prev = 0usize;
    let mut first = true;
    indices
        .map(|i| {
            let g = if first { i } else { i - prev - 1 };
            first = false;
            prev = i;
            g as u32
        })
        .collect()
}

fn ungap(gaps: &[u32], len: usize, what: &str) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(gaps.len());
    let mut next = 0usize;
    for &g in gaps {
        let i = next
            .checked_add(g as usize)
            .filter(|&i| i < len)
            .ok_or_else(|| format!("{what} index out of range"))?;
        out.push(i);
        next = i + 1;
    }
    Ok(out)
}

impl ModelFile {
    /// The serialised form of a network of `layers` over `n_inputs` inputs wired by `topology`.
    pub(super) fn from_parts(n_inputs: usize, topology: Topology, layers: &[Dense]) -> ModelFile {
        let layers = layers
            .iter()
            .map(|l| {
                let flat = l.weight.as_slice().expect("contiguous");
                let weights = match &l.mask {
                    None => Weights::Full {
                        values: flat.to_vec(),
                    },
                    Some(mask) => {
                        let mask = mask.as_slice().expect("contiguous");
                        let kept: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
                        let values: Vec<f32> = kept.iter().map(|&i| flat[i]).collect();
                        let kept_gaps = gaps(kept.into_iter());
                        let gap_bytes: usize = kept_gaps.iter().map(|&g| varint_len(g)).sum();
                        if gap_bytes <= mask.len().div_ceil(8) {
                            Weights::Sparse { kept_gaps, values }
                        } else {
                            let mut kept_bits = vec![0u8; mask.len().div_ceil(8)];
                            for (i, _) in mask.iter().enumerate().filter(|(_, &k)| k) {
                                kept_bits[i / 8] |= 1 << (i % 8);
                            }
                            Weights::Bitmap { kept_bits, values }
                        }
                    }
                };
                LayerFile {
                    inputs: l.n_inputs(),
                    units: l.n_outputs(),
                    activation: l.activation,
                    weights,
                    bias: l.bias.as_ref().map(|b| b.to_vec()),
                    pruned_biases: l
                        .bias_mask
                        .as_ref()
                        .map(|m| (0..m.len()).filter(|&i| !m[i]).map(|i| i as u32).collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
        ModelFile {
            format: FORMAT.into(),
            version: VERSION,
            n_inputs,
            topology,
            layers,
        }
    }
}

impl ModelFile {
    /// The inputs, wiring and layers this form holds, checked (the network's own checks follow in
    /// [`Mlp::from_layers`]).
    pub(super) fn into_parts(self) -> std::result::Result<(usize, Topology, Vec<Dense>), String> {
        let f = self;
        if f.format != FORMAT {
            return Err(format!(
                "not a prunelab network (format tag {:?})",
                f.format
            ));
        }
        if f.version != VERSION {
            return Err(format!(
                "unsupported version {} (this build reads {VERSION})",
                f.version
            ));
        }
        // What the layers claim against what the file holds, before anything is allocated for the claims.
        let mut claimed = 0usize;
        let mut held = 0usize;
        for (k, l) in f.layers.iter().enumerate() {
            let n = l.n_weights(k)?;
            claimed = claimed.saturating_add(n).saturating_add(l.units);
            held = held
                .saturating_add(match &l.weights {
                    Weights::Full { values } => values.len(),
                    Weights::Bitmap { kept_bits, values } => kept_bits
                        .len()
                        .saturating_mul(8)
                        .saturating_add(values.len()),
                    Weights::Sparse { kept_gaps, values } => kept_gaps.len() + values.len(),
                })
                .saturating_add(l.bias.as_ref().map_or(0, Vec::len))
                .saturating_add(l.pruned_biases.len())
                .saturating_add(1);
        }
        let allowed = FREE_WEIGHTS.saturating_add(held.saturating_mul(WEIGHTS_PER_VALUE));
        if claimed > allowed {
            return Err(format!(
                "the layers claim {claimed} weights, more than the {held} values the file holds can \
                 back (at most {allowed})"
            ));
        }
        // A dense copy and a mask per layer.
        crate::mem::ensure("the loaded network", crate::mem::bytes(claimed, 5))
            .map_err(|e| e.to_string())?;
        let mut layers = Vec::with_capacity(f.layers.len());
        for (k, l) in f.layers.into_iter().enumerate() {
            let n = l.n_weights(k)?;
            let scatter = |kept: Vec<usize>, values: Vec<f32>| -> std::result::Result<_, String> {
                if kept.len() != values.len() {
                    return Err(format!(
                        "layer {k}: {} kept weights but {} values",
                        kept.len(),
                        values.len()
                    ));
                }
                let alloc = |e: Error| format!("layer {k}: {e}");
                let mut dense = crate::mem::try_vec("a loaded layer", n, 0.0f32).map_err(alloc)?;
                let mut mask = crate::mem::try_vec("a loaded mask", n, false).map_err(alloc)?;
                for (&i, &v) in kept.iter().zip(&values) {
                    dense[i] = v;
                    mask[i] = true;
                }
                Ok((dense, Some(mask)))
            };
            let (values, mask) = match l.weights {
                Weights::Full { values } => {
                    if values.len() != n {
                        return Err(format!(
                            "layer {k}: {} weights, shape needs {n}",
                            values.len()
                        ));
                    }
                    (values, None)
                }
                Weights::Bitmap { kept_bits, values } => {
                    let stray_bits =
                        n % 8 != 0 && kept_bits.last().is_some_and(|&b| b >> (n % 8) != 0);
                    if kept_bits.len() != n.div_ceil(8) || stray_bits {
                        return Err(format!("layer {k}: mask bitmap does not fit {n} weights"));
                    }
                    let kept = (0..n)
                        .filter(|&i| (kept_bits[i / 8] >> (i % 8)) & 1 == 1)
                        .collect();
                    scatter(kept, values)?
                }
                Weights::Sparse { kept_gaps, values } => {
                    scatter(ungap(&kept_gaps, n, "kept weight")?, values)?
                }
            };
            let weight =
                Array2::from_shape_vec((l.units, l.inputs), values).map_err(|e| e.to_string())?;
            let bias = l.bias.map(Array1::from);
            let mut dense =
                Dense::new(weight, bias, l.activation).map_err(|e| format!("layer {k}: {e}"))?;
            dense.mask = mask
                .map(|m| Array2::from_shape_vec((l.units, l.inputs), m).expect("shape checked"));
            if !l.pruned_biases.is_empty() {
                let b = dense
                    .bias
                    .as_ref()
                    .ok_or_else(|| format!("layer {k}: pruned biases but no bias"))?;
                let mut m = Array1::from_elem(b.len(), true);
                for &u in &l.pruned_biases {
                    let u = u as usize;
                    if u >= b.len() || b[u] != 0.0 {
                        return Err(format!("layer {k}: bad pruned bias {u}"));
                    }
                    m[u] = false;
                }
                dense.bias_mask = Some(m);
            }
            layers.push(dense);
        }
        Ok((f.n_inputs, f.topology, layers))
    }
}

/// A model file's bytes, its size first checked against the memory this process may still use (a typed
/// [`Error::TooLarge`], not an abort, for a file larger than that).
pub(super) fn read_checked(path: &Path, what: &'static str) -> crate::error::Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    crate::mem::ensure(what, size)?;
    std::fs::read(path).map_err(io)
}

/// A [`Error::Format`] for `path`.
pub(super) fn format_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
