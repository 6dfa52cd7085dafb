//! How the layers of a network are wired together.

use serde::{Deserialize, Serialize};

/// How layers are wired together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Topology {
    /// Each layer receives the previous layer's output (the usual MLP).
    #[default]
    Chain,
    /// Each layer receives the network input and the outputs of all earlier layers, concatenated in that
    /// order (a densely connected MLP). Layer `k` has `inputs + Σ_{i<k} width_i` inputs.
    DenselyConnected,
}
