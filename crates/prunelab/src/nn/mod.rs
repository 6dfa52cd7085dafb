//! Networks: dense layers, activations, initialisation and the MLP.

mod activation;
mod init;
mod layer;
mod mlp;
mod weights;

pub use activation::Activation;
pub use init::Init;
pub use layer::Dense;
pub(crate) use mlp::{check_batch, dense_inference, LayerView, Workspace};
pub use mlp::{Gradients, Mlp, MlpConfig, Topology};
pub(crate) use weights::{PackCache, Weights};
