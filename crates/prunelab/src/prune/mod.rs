//! Pruning: masks, unstructured and structured criteria, gradient and activation scores, compaction,
//! sparse inference and schedules.
//!
//! A pruned weight is masked and exactly zero, and stays exactly zero through further training with every
//! optimiser (its gradient and optimiser state are masked too). Pruning again composes with the existing
//! mask: an amount is a fraction of what is still unpruned.
//!
//! ```
//! use prunelab::prelude::*;
//!
//! let (train, test) = data::iris_binary().split(0.7, 0)?;
//! let mut model = Mlp::config(&[4, 16, 1]).output_activation(Activation::Sigmoid).seed(0).build()?;
//! let params = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01)).epochs(100);
//! params.fit(&mut model, &train)?;
//!
//! WeightPruning::magnitude(0.8).global().apply(&mut model)?;
//! params.fit(&mut model, &train)?; // pruned weights stay exactly zero
//! let report = model.prune_report();
//! assert_eq!(report.remaining, 16); // 20% of 4·16 + 16
//!
//! let small = model.compact()?;     // dead units physically removed
//! let fast = small.to_sparse();     // CSR kernels where sparse
//! assert_eq!(fast.forward(&test.records)?.nrows(), 30);
//! # Ok::<(), prunelab::Error>(())
//! ```

mod criteria;
mod schedule;
pub(crate) mod scores;
mod selection;
mod structured;

pub use crate::nn::{Csr, Kernel, SparseLayer, SparseMlp, CROSSOVER_FEW, CROSSOVER_MANY};
pub use crate::nn::{LayerReport, PruneReport};
pub(crate) use criteria::{check_threshold, chosen_layers};
pub use criteria::{Amount, Scope, ThresholdPruning, WeightPruning, WeightScore};
pub use schedule::{prune_to_sparsity, GradualPruning};
pub use scores::{snip_scores, unit_utility};
pub(crate) use selection::impl_selection;
pub use selection::{RankScope, SkipLayers};
pub use structured::{unit_scores, Norm, UnitPruning, UnitScore};
