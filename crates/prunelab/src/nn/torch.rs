//! PyTorch's form of a network: the `state_dict` of an `nn.Sequential` of `nn.Linear` layers and activations,
//! in a safetensors file (read and written with the `safetensors` crate).
//!
//! Tensor names are the module's: `{i}.weight` (shape `(out, in)`) and `{i}.bias`, where `i` is the Linear
//! layer's index in the Sequential (activation modules take indices too: `Linear, ReLU, Linear` gives `0` and
//! `2`). A layer pruned with `torch.nn.utils.prune` is `{i}.weight_orig` and `{i}.weight_mask` (0 or 1), its
//! weight being their product; a pruned bias likewise `{i}.bias_orig` and `{i}.bias_mask`. A state dict has no
//! activations: they come from the caller ([`TorchSpec::activations`]) or from the file's metadata, where
//! [`Mlp::save_safetensors`](super::Mlp::save_safetensors) writes them (`prunelab.activations`). The
//! network's methods are in `state_dict.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::file::format_error;
use super::{Activation, Dense, Topology};
use crate::error::{Error, Result};

/// The metadata key holding the activation after each Linear layer, comma-separated (`relu,relu,identity`).
pub const ACTIVATIONS_KEY: &str = "prunelab.activations";

/// How to read a network from a PyTorch state dict in safetensors form.
///
/// ```no_run
/// use prunelab::nn::{Activation, Mlp, TorchSpec};
///
/// // Saved in Python with `safetensors.torch.save_file(model.state_dict(), "mlp.safetensors")` for
/// // `nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))`:
/// let spec = TorchSpec::new().activations(&[Activation::Relu, Activation::Identity]);
/// let model = Mlp::from_safetensors("mlp.safetensors", &spec)?;
/// assert_eq!(model.sizes(), [784, 300, 10]);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TorchSpec {
    /// The activation after each Linear layer, first to last; `None` reads them from the file's metadata.
    pub activations: Option<Vec<Activation>>,
}

impl TorchSpec {
    /// Activations from the file's metadata (as [`Mlp::save_safetensors`](super::Mlp::save_safetensors) writes them).
    pub fn new() -> Self {
        Self::default()
    }

    /// The activation after each Linear layer, first to last (`Identity` where none follows).
    pub fn activations(mut self, activations: &[Activation]) -> Self {
        self.activations = Some(activations.to_vec());
        self
    }
}

/// One Linear layer's tensors, as found in the file.
#[derive(Default)]
struct LayerTensors<'a> {
    weight: Option<(String, TensorView<'a>)>,
    weight_orig: Option<(String, TensorView<'a>)>,
    weight_mask: Option<(String, TensorView<'a>)>,
    bias: Option<(String, TensorView<'a>)>,
    bias_orig: Option<(String, TensorView<'a>)>,
    bias_mask: Option<(String, TensorView<'a>)>,
}

/// Splits `prefix{index}.{param}` (`0.weight`, `net.2.bias_mask`) into prefix, index and parameter.
fn split_name(name: &str) -> Option<(&str, usize, &str)> {
    let (stem, param) = name.rsplit_once('.')?;
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 9 {
        return None;
    }
    let (prefix, index) = stem.split_at(stem.len() - digits);
    if !(prefix.is_empty() || prefix.ends_with('.')) {
        return None;
    }
    Some((prefix, index.parse().ok()?, param))
}

/// An activation from its name in metadata (`relu`, `ReLU` and PyTorch's module names alike).
fn activation_named(name: &str) -> Option<Activation> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "identity" | "linear" | "none" | "" => Activation::Identity,
        "relu" => Activation::Relu,
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "gelu" => Activation::Gelu,
        "softmax" => Activation::Softmax,
        _ => return None,
    })
}

/// PyTorch's module for an activation, for the metadata's description of the Sequential.
fn torch_module(a: Activation) -> Option<&'static str> {
    match a {
        Activation::Identity => None,
        Activation::Relu => Some("ReLU()"),
        Activation::Sigmoid => Some("Sigmoid()"),
        Activation::Tanh => Some("Tanh()"),
        Activation::Gelu => Some("GELU()"),
        Activation::Softmax => Some("Softmax(dim=-1)"),
    }
}

/// A tensor's values as `f32` (from F32, F64, F16 or BF16, little-endian as safetensors stores them).
fn values(source: &Path, name: &str, t: &TensorView<'_>) -> Result<Vec<f32>> {
    let data = t.data();
    let n: usize = t.shape().iter().product();
    let out: Vec<f32> = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        other => {
            return Err(format_error(
                source,
                format!("tensor {name:?} has dtype {other:?}; a Linear layer's must be F32, F64, F16 or BF16"),
            ))
        }
    };
    // The crate checks that the data's length matches shape and dtype; a mismatch here is a bug there.
    if out.len() != n {
        return Err(format_error(
            source,
            format!(
                "tensor {name:?} holds {} values for shape {:?}",
                out.len(),
                t.shape()
            ),
        ));
    }
    Ok(out)
}

/// IEEE half precision to single.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            let f = (f << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (f << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A 2-D tensor as a matrix.
fn matrix(source: &Path, (name, t): &(String, TensorView<'_>)) -> Result<Array2<f32>> {
    let &[rows, cols] = t.shape() else {
        return Err(format_error(
            source,
            format!(
                "tensor {name:?} has shape {:?}; a Linear weight is 2-D (out, in)",
                t.shape()
            ),
        ));
    };
    Array2::from_shape_vec((rows, cols), values(source, name, t)?)
        .map_err(|e| format_error(source, format!("tensor {name:?}: {e}")))
}

/// A 1-D tensor of length `len` as a vector.
fn vector(source: &Path, (name, t): &(String, TensorView<'_>), len: usize) -> Result<Array1<f32>> {
    if t.shape() != [len] {
        return Err(format_error(
            source,
            format!(
                "tensor {name:?} has shape {:?}; expected [{len}]",
                t.shape()
            ),
        ));
    }
    Ok(Array1::from(values(source, name, t)?))
}

/// A mask tensor's values as kept (1) or pruned (0); anything else is an error.
fn mask_values(source: &Path, name: &str, v: impl IntoIterator<Item = f32>) -> Result<Vec<bool>> {
    v.into_iter()
        .map(|x| {
            if x == 1.0 {
                Ok(true)
            } else if x == 0.0 {
                Ok(false)
            } else {
                Err(format_error(
                    source,
                    format!(
                        "mask {name:?} holds {x}; a torch.nn.utils.prune mask holds only 0 and 1"
                    ),
                ))
            }
        })
        .collect()
}

/// The input width and the layers of the Sequential a safetensors state dict holds, checked (see
/// [`Mlp::from_safetensors`](super::Mlp::from_safetensors)).
pub(super) fn read_state_dict(
    bytes: &[u8],
    spec: &TorchSpec,
    source: &Path,
) -> Result<(usize, Vec<Dense>)> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(source, format!("not a safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format_error(source, format!("not a safetensors file: {e}")))?;
    let mut layers: BTreeMap<usize, LayerTensors<'_>> = BTreeMap::new();
    let mut prefix: Option<String> = None;
    let mut names = file.names();
    names.sort_unstable();
    for name in names {
        let unknown = || {
            format_error(
                source,
                format!(
                    "tensor {name:?} is not a Linear layer's parameter (expected INDEX.weight, \
                     INDEX.bias, or torch.nn.utils.prune's INDEX.weight_orig and INDEX.weight_mask)"
                ),
            )
        };
        let (p, index, param) = split_name(name).ok_or_else(unknown)?;
        match &prefix {
            None => prefix = Some(p.to_string()),
            Some(q) if q != p => {
                return Err(format_error(
                    source,
                    format!(
                        "tensor {name:?} is outside the Sequential {q:?} the other tensors are in"
                    ),
                ))
            }
            Some(_) => {}
        }
        let view = file
            .tensor(name)
            .map_err(|e| format_error(source, format!("tensor {name:?}: {e}")))?;
        let entry = layers.entry(index).or_default();
        let slot = match param {
            "weight" => &mut entry.weight,
            "weight_orig" => &mut entry.weight_orig,
            "weight_mask" => &mut entry.weight_mask,
            "bias" => &mut entry.bias,
            "bias_orig" => &mut entry.bias_orig,
            "bias_mask" => &mut entry.bias_mask,
            _ => return Err(unknown()),
        };
        *slot = Some((name.to_string(), view));
    }
    if layers.is_empty() {
        return Err(format_error(source, "the file holds no tensors"));
    }
    let activations = match &spec.activations {
        Some(a) => a.clone(),
        None => {
            let given = header
                .metadata()
                .as_ref()
                .and_then(|m| m.get(ACTIVATIONS_KEY))
                .ok_or_else(|| {
                    format_error(
                        source,
                        format!(
                            "a state dict does not say which activations follow its Linear layers, and \
                             the file's metadata has no {ACTIVATIONS_KEY:?}: give them with \
                             TorchSpec::new().activations(&[...]) ({} layers)",
                            layers.len()
                        ),
                    )
                })?;
            given
                .split(',')
                .map(|n| {
                    activation_named(n).ok_or_else(|| {
                        format_error(
                            source,
                            format!("unknown activation {n:?} in {ACTIVATIONS_KEY:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    if activations.len() != layers.len() {
        return Err(format_error(
            source,
            format!(
                "{} activations for {} Linear layers (one per layer, Identity where none follows)",
                activations.len(),
                layers.len()
            ),
        ));
    }
    let mut dense = Vec::with_capacity(layers.len());
    for ((index, t), activation) in layers.into_iter().zip(activations) {
        dense.push(torch_layer(source, index, &t, activation)?);
    }
    let n_inputs = dense[0].n_inputs();
    for pair in dense.windows(2) {
        if pair[1].n_inputs() != pair[0].n_outputs() {
            return Err(format_error(
                source,
                format!(
                    "the Linear layers do not chain: one has {} outputs, the next {} inputs",
                    pair[0].n_outputs(),
                    pair[1].n_inputs()
                ),
            ));
        }
    }
    Ok((n_inputs, dense))
}

/// One Linear layer from its tensors; a pruned weight keeps its original value for
/// [`Mlp::reset_masks`](super::Mlp::reset_masks), as `weight_orig` keeps it in PyTorch.
fn torch_layer(
    source: &Path,
    index: usize,
    t: &LayerTensors<'_>,
    activation: Activation,
) -> Result<Dense> {
    let missing = |what: &str| format_error(source, format!("Linear layer {index}: {what}"));
    let (weight, mask) = match (&t.weight, &t.weight_orig, &t.weight_mask) {
        (Some(w), None, None) => (matrix(source, w)?, None),
        (None, Some(orig), Some(m)) => {
            let orig_w = matrix(source, orig)?;
            let mask = matrix(source, m)?;
            if mask.dim() != orig_w.dim() {
                return Err(missing(&format!(
                    "mask of shape {:?} for a weight of shape {:?}",
                    mask.dim(),
                    orig_w.dim()
                )));
            }
            let kept = mask_values(source, &m.0, mask.iter().copied())?;
            let kept = Array2::from_shape_vec(orig_w.raw_dim(), kept).expect("same shape");
            (orig_w, Some(kept))
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(missing(
                "both a plain weight and torch.nn.utils.prune's weight_orig/weight_mask",
            ))
        }
        (None, Some(_), None) => return Err(missing("weight_orig without its weight_mask")),
        (None, None, Some(_)) => return Err(missing("weight_mask without its weight_orig")),
        (None, None, None) => return Err(missing("no weight")),
    };
    let out = weight.nrows();
    let (bias, bias_kept) = match (&t.bias, &t.bias_orig, &t.bias_mask) {
        (None, None, None) => (None, None),
        (Some(b), None, None) => (Some(vector(source, b, out)?), None),
        (None, Some(orig), Some(m)) => {
            let b = vector(source, orig, out)?;
            let kept = mask_values(source, &m.0, vector(source, m, out)?.iter().copied())?;
            (Some(b), Some(Array1::from(kept)))
        }
        _ => {
            return Err(missing(
                "a bias that is neither plain nor a complete bias_orig/bias_mask pair",
            ))
        }
    };
    let mut layer = Dense::new(weight, bias, activation).map_err(|e| missing(&e.to_string()))?;
    if let Some(kept) = mask {
        for ((u, i), &keep) in kept.indexed_iter() {
            if !keep {
                layer.prune_entry(u, i);
            }
        }
    }
    if let (Some(kept), Some(b)) = (bias_kept, layer.bias.as_mut()) {
        if kept.iter().any(|&k| !k) {
            for (v, &k) in b.iter_mut().zip(&kept) {
                if !k {
                    *v = 0.0;
                }
            }
            layer.bias_mask = Some(kept);
        }
    }
    Ok(layer)
}

/// The state dict of a network's layers in safetensors form (see [`Mlp::to_safetensors`](super::Mlp::to_safetensors)).
pub(super) fn write_state_dict(topology: Topology, layers: &[Dense]) -> Result<Vec<u8>> {
    if topology != Topology::Chain {
        return Err(Error::Incompatible(
            "a densely connected network is not an nn.Sequential of Linear layers (no safetensors \
             state dict for it)"
                .into(),
        ));
    }
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let le = |v: &mut dyn Iterator<Item = f32>| v.flat_map(f32::to_le_bytes).collect::<Vec<u8>>();
    let mut module = 0usize;
    let mut described = Vec::new();
    for layer in layers {
        let (out, inp) = layer.weight.dim();
        let shape = vec![out, inp];
        described.push(format!(
            "Linear({inp}, {out}, bias={})",
            if layer.bias.is_some() {
                "True"
            } else {
                "False"
            }
        ));
        match &layer.mask {
            Some(mask) if mask.iter().any(|&k| !k) => {
                let saved = layer.pruned_values.as_ref();
                let orig = layer.weight.indexed_iter().map(|((u, i), &w)| {
                    if mask[[u, i]] {
                        w
                    } else {
                        saved.map_or(0.0, |s| s[[u, i]])
                    }
                });
                tensors.push((
                    format!("{module}.weight_orig"),
                    Dtype::F32,
                    shape.clone(),
                    le(&mut orig.into_iter()),
                ));
                let m = mask.iter().map(|&k| if k { 1.0 } else { 0.0 });
                tensors.push((
                    format!("{module}.weight_mask"),
                    Dtype::F32,
                    shape,
                    le(&mut m.into_iter()),
                ));
            }
            _ => {
                tensors.push((
                    format!("{module}.weight"),
                    Dtype::F32,
                    shape,
                    le(&mut layer.weight.iter().copied()),
                ));
            }
        }
        if let Some(b) = &layer.bias {
            match &layer.bias_mask {
                Some(bm) if bm.iter().any(|&k| !k) => {
                    tensors.push((
                        format!("{module}.bias_orig"),
                        Dtype::F32,
                        vec![out],
                        le(&mut b.iter().copied()),
                    ));
                    let m = bm.iter().map(|&k| if k { 1.0 } else { 0.0 });
                    tensors.push((
                        format!("{module}.bias_mask"),
                        Dtype::F32,
                        vec![out],
                        le(&mut m.into_iter()),
                    ));
                }
                _ => tensors.push((
                    format!("{module}.bias"),
                    Dtype::F32,
                    vec![out],
                    le(&mut b.iter().copied()),
                )),
            }
        }
        module += 1;
        if let Some(m) = torch_module(layer.activation) {
            described.push(m.to_string());
            module += 1;
        }
    }
    let activations: Vec<&str> = layers.iter().map(|l| l.activation.name()).collect();
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (ACTIVATIONS_KEY.to_string(), activations.join(",")),
        (
            "prunelab.sequential".to_string(),
            format!("nn.Sequential({})", described.join(", ")),
        ),
        (
            "prunelab.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Serialize {
                    what: "the network",
                    format: "safetensors",
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Serialize {
        what: "the network",
        format: "safetensors",
        reason: e.to_string(),
    })?;
    Ok(sorted_header(bytes))
}

/// The file with its JSON header's keys in sorted order (the crate writes the metadata from a `HashMap`, in
/// a different order each run), so that the same network gives the same bytes. The data offsets in the
/// header are unchanged, so the tensors' bytes stay where they are.
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&bytes[8..8 + n]) else {
        return bytes;
    };
    // serde_json's maps are ordered by key.
    let Ok(mut text) = serde_json::to_string(&header) else {
        return bytes;
    };
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - n);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
    out.extend(&bytes[8 + n..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_prefix_index_and_parameter() {
        assert_eq!(split_name("0.weight"), Some(("", 0, "weight")));
        assert_eq!(
            split_name("net.12.bias_mask"),
            Some(("net.", 12, "bias_mask"))
        );
        assert_eq!(split_name("weight"), None);
        assert_eq!(split_name("layer0.weight"), None);
        assert_eq!(split_name("99999999999.weight"), None);
    }

    #[test]
    fn half_precision_converts_exactly() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x0001, 5.960_464_5e-8),
            (0x7bff, 65504.0),
            (0x0000, 0.0),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
