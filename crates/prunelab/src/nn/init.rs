//! Weight initialisation schemes.

use rand::distributions::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// How a freshly built network draws its weights and biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Init {
    /// scikit-learn's MLP initialisation (Glorot/Xavier uniform): weights and biases from
    /// `U(-b, b)` with `b = sqrt(6 / (fan_in + fan_out))`, or `sqrt(2 / (fan_in + fan_out))` when the
    /// hidden activation is the sigmoid.
    #[default]
    GlorotUniform,
    /// PyTorch's `nn.Linear` default (Kaiming uniform with `a = sqrt(5)`): weights and biases from
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    KaimingUniform,
}

impl Init {
    /// The half-width of the uniform distribution for a layer.
    pub(crate) fn bound(self, fan_in: usize, fan_out: usize, sigmoid_hidden: bool) -> f32 {
        match self {
            Init::GlorotUniform => {
                let factor = if sigmoid_hidden { 2.0 } else { 6.0 };
                (factor / (fan_in + fan_out) as f64).sqrt() as f32
            }
            Init::KaimingUniform => (1.0 / fan_in as f64).sqrt() as f32,
        }
    }

    /// Draws `n` values from `U(-bound, bound)` into a vector reserved fallibly: a size beyond what this
    /// process may still allocate is [`Error::TooLarge`](crate::Error::TooLarge) (`what` says what it
    /// was for), not an abort.
    pub(crate) fn draw(
        what: &'static str,
        bound: f32,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>> {
        let dist = Uniform::new_inclusive(-bound, bound);
        let mut values = crate::mem::try_with_capacity(what, n)?;
        values.extend((0..n).map(|_| dist.sample(rng)));
        Ok(values)
    }
}
