//! A copy of a network's parameters that training restores when an epoch diverges.

use std::sync::Arc;

use ndarray::{Array1, Array2};

use super::{Dense, Mlp, SparsePlan};

/// One layer's weights as a [`Snapshot`] holds them.
#[derive(Debug)]
enum Stored {
    /// The whole matrix.
    Whole(Array2<f32>),
    /// A layer that trains sparse: its kept weights only, at the row-major positions `at` (the others are
    /// pruned zeros that training leaves alone).
    Kept { at: Arc<[usize]>, values: Vec<f32> },
}

/// The weights and biases of a network at one moment (the start of an epoch), taken and restored without
/// its masks: a layer that trains sparse keeps only its kept weights, so that a snapshot of a pruned
/// network costs its kept weights, not its whole matrices.
#[derive(Debug)]
pub(crate) struct Snapshot {
    layers: Vec<(Stored, Option<Array1<f32>>)>,
}

impl Snapshot {
    /// The current parameters of `mlp`; the layers that train sparse under `sparse` keep their kept weights
    /// only, read from the plan (which holds them contiguously, and current).
    pub(crate) fn take(mlp: &Mlp, sparse: Option<&SparsePlan>) -> Snapshot {
        let layers = mlp
            .layers
            .iter()
            .enumerate()
            .map(|(k, layer)| (weights_of(layer, k, sparse), None))
            .collect();
        let mut snapshot = Snapshot { layers };
        snapshot.refresh_biases(mlp);
        snapshot
    }

    /// Takes the current parameters of `mlp` again, in the buffers already held where the shapes and kept
    /// weights are unchanged.
    pub(crate) fn retake(&mut self, mlp: &Mlp, sparse: Option<&SparsePlan>) {
        assert_eq!(
            self.layers.len(),
            mlp.layers.len(),
            "the snapshot's network"
        );
        for (k, (layer, (weights, _))) in mlp.layers.iter().zip(&mut self.layers).enumerate() {
            let kept = sparse.and_then(|p| Some((p.kept_shared(k)?, p.kept_values(k)?)));
            match (weights, kept) {
                (Stored::Whole(w), None) if w.dim() == layer.weight.dim() => {
                    w.assign(&layer.weight)
                }
                (Stored::Kept { at, values }, Some((kept, now))) if Arc::ptr_eq(at, kept) => {
                    values.copy_from_slice(now);
                }
                (weights, _) => *weights = weights_of(layer, k, sparse),
            }
        }
        self.refresh_biases(mlp);
    }

    /// Copies every bias of `mlp`.
    fn refresh_biases(&mut self, mlp: &Mlp) {
        for (layer, (_, bias)) in mlp.layers.iter().zip(&mut self.layers) {
            match (bias, &layer.bias) {
                (Some(b), Some(src)) if b.len() == src.len() => b.assign(src),
                (b, src) => *b = src.clone(),
            }
        }
    }

    /// Puts these parameters back into `mlp` (the network they were taken from), keeping its masks: an
    /// entry pruned since stays zero.
    pub(crate) fn restore(&self, mlp: &mut Mlp) {
        assert_eq!(
            self.layers.len(),
            mlp.layers.len(),
            "the snapshot's network"
        );
        for (layer, (weights, bias)) in mlp.layers.iter_mut().zip(&self.layers) {
            match weights {
                Stored::Whole(w) => copy_kept(&mut layer.weight, w, layer.mask.as_ref()),
                Stored::Kept { at, values } => {
                    let mask = layer.mask.as_ref().and_then(|m| m.as_slice());
                    let mask = mask.expect("a layer that trained sparse has a mask");
                    let w = layer.weight.as_slice_mut().expect("weights are contiguous");
                    for (&i, &v) in at.iter().zip(values) {
                        w[i] = if mask[i] { v } else { 0.0 };
                    }
                }
            }
            if let (Some(dst), Some(src)) = (&mut layer.bias, bias) {
                copy_kept(dst, src, layer.bias_mask.as_ref());
            }
        }
    }
}

/// Layer `k`'s weights to keep: where it trains sparse under `sparse`, its kept weights as the plan holds
/// them (the matrix's own values, or newer), else the whole matrix.
fn weights_of(layer: &Dense, k: usize, sparse: Option<&SparsePlan>) -> Stored {
    match sparse.and_then(|p| Some((p.kept_shared(k)?, p.kept_values(k)?))) {
        Some((at, values)) => Stored::Kept {
            at: Arc::clone(at),
            values: values.to_vec(),
        },
        None => Stored::Whole(layer.weight.view().to_owned()),
    }
}

/// `dst = src` where `keep` holds (everywhere without it), zero elsewhere: one branch-free pass.
fn copy_kept<D: ndarray::Dimension>(
    dst: &mut ndarray::Array<f32, D>,
    src: &ndarray::Array<f32, D>,
    keep: Option<&ndarray::Array<bool, D>>,
) {
    match keep {
        None => dst.assign(src),
        Some(keep) => ndarray::Zip::from(dst)
            .and(src)
            .and(keep)
            .for_each(|d, &s, &k| *d = if k { s } else { 0.0 }),
    }
}
