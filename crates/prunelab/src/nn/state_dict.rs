//! The network's methods for PyTorch state dicts in safetensors form (the form itself is [`super::torch`]'s).

use std::path::Path;

use super::torch::{read_state_dict, write_state_dict};
use super::{Mlp, Topology, TorchSpec};
use crate::error::{Error, Result};

impl Mlp {
    /// Reads a PyTorch `nn.Sequential` of `nn.Linear` layers from a safetensors file of its `state_dict()`
    /// (`safetensors.torch.save_file(model.state_dict(), path)`), masks of `torch.nn.utils.prune` included.
    /// Activations come from `spec` or the file's metadata. Anything else in the file (a tensor that is not a
    /// Linear layer's, layers that do not chain, a mask that is not 0/1, a dtype that is not a float) is an
    /// [`Error::Format`] naming it; the file's size is checked against the memory this process may use
    /// before it is read.
    pub fn from_safetensors(path: impl AsRef<Path>, spec: &TorchSpec) -> Result<Mlp> {
        let path = path.as_ref();
        let bytes = super::file::read_checked(path, "the safetensors file")?;
        let (n_inputs, layers) = read_state_dict(&bytes, spec, path)?;
        Mlp::from_layers(n_inputs, Topology::Chain, layers)
    }

    /// [`Mlp::from_safetensors`] on the file's bytes.
    pub fn from_safetensors_bytes(bytes: &[u8], spec: &TorchSpec) -> Result<Mlp> {
        let source = Path::new("<safetensors>");
        let (n_inputs, layers) = read_state_dict(bytes, spec, source)?;
        Mlp::from_layers(n_inputs, Topology::Chain, layers)
    }

    /// The network as a PyTorch state dict in safetensors form: what
    /// `model.load_state_dict(safetensors.torch.load_file(path))` reads into the `nn.Sequential` the
    /// metadata describes (`prunelab.sequential`). A layer with pruned weights is written as
    /// `torch.nn.utils.prune` saves it (`weight_orig`, with the values pruned weights had, and `weight_mask`),
    /// so a module pruned the same way (`prune.custom_from_mask` or `prune.identity` before loading) takes it;
    /// a dense or compacted network has plain `weight` and `bias`. Metadata: `format` `pt`, the activations
    /// and prunelab's version. A densely connected network has no Sequential form:
    /// [`Error::Incompatible`].
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        write_state_dict(self.topology, &self.layers)
    }

    /// Writes [`Mlp::to_safetensors`] to `path`.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_safetensors()?).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
