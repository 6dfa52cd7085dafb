//! Networks: dense layers, activations, initialisation and the MLP, their masks, their file form and their
//! graph view.
//!
//! This module owns the network types and the one rule every pruning method relies on: a pruned weight is
//! masked and exactly zero. Their fields are private to it; the only ways to change a network (setting
//! weights, pruning an entry or a unit, an optimiser's update, restoring a snapshot, resetting masks) are
//! methods here that keep that rule, so no sequence of public calls can leave a masked weight non-zero.
//! [`crate::prune`] decides *what* to mask and calls them.

mod batch;
mod compact;
mod connections;
mod file;
pub mod graph;
mod init;
mod layer;
mod mask;
mod mlp;
mod onnx;
mod onnx_import;
mod onnx_proto;
mod params;
mod reinit;
mod report;
mod save;
mod snapshot;
mod sparse;
mod sparse_train;
mod state_dict;
mod topology;
mod torch;
mod update;
mod weights;

pub use crate::activation::Activation;

pub use file::{FREE_WEIGHTS, WEIGHTS_PER_VALUE};
pub use init::Init;
pub use layer::Dense;
pub(crate) use mlp::Workspace;
pub use mlp::{Gradients, Mlp, MlpConfig};
pub use onnx::ONNX_OPSET;
pub(crate) use params::ParamUpdate;
pub use report::{LayerReport, PruneReport};
pub(crate) use snapshot::Snapshot;
pub use sparse::{Csr, Kernel, SparseLayer, SparseMlp, CROSSOVER_FEW, CROSSOVER_MANY};
pub use sparse_train::train_crossover;
pub(crate) use sparse_train::SparsePlan;
pub use topology::Topology;
pub use torch::{TorchSpec, ACTIVATIONS_KEY};
pub(crate) use weights::{PackCache, Weights};
