//! Networks: dense layers, activations, initialisation and the MLP.

mod batch;
mod file;
mod init;
mod layer;
mod mlp;
mod reinit;
mod weights;

pub use crate::activation::Activation;
pub(crate) use batch::{check_batch, dense_inference, LayerView};
pub use file::{FREE_WEIGHTS, WEIGHTS_PER_VALUE};
pub use init::Init;
pub use layer::Dense;
pub(crate) use mlp::Workspace;
pub use mlp::{Gradients, Mlp, MlpConfig, Topology};
pub(crate) use weights::{PackCache, Weights};
