//! The multi-layer perceptron: construction, forward and backward passes, prediction.

use std::ops::Range;

use ndarray::{s, Array1, Array2, ArrayView2, AsArray, Axis, Ix2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{check_finite, Error, Result};
use crate::loss::Loss;
use crate::nn::{Activation, Dense, Init, Topology};

use super::batch::{check_batch, dense_inference, labels_from_output, LayerView};
use super::sparse_train::SparsePlan;

/// Settings for building an [`Mlp`] from layer sizes.
///
/// ```
/// use prunelab::nn::{Activation, Mlp};
///
/// let mlp = Mlp::config(&[4, 5, 3, 1])
///     .output_activation(Activation::Sigmoid)
///     .seed(7)
///     .build()?;
/// assert_eq!(mlp.n_weights(), 4 * 5 + 5 * 3 + 3);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Layer sizes: the number of inputs, then each hidden layer's width, then the number of outputs.
    pub sizes: Vec<usize>,
    /// Activation of every hidden layer.
    pub activation: Activation,
    /// Activation of the output layer.
    pub output_activation: Activation,
    /// How layers are wired: a chain, or densely connected.
    pub topology: Topology,
    /// Whether layers have biases.
    pub bias: bool,
    /// How weights and biases are drawn.
    pub init: Init,
    /// Seed of the initialisation; the same seed gives bit-identical weights.
    pub seed: u64,
}

impl MlpConfig {
    /// A configuration with relu hidden layers, an identity output, biases, Glorot-uniform initialisation
    /// and seed 0.
    pub fn new(sizes: &[usize]) -> Self {
        MlpConfig {
            sizes: sizes.to_vec(),
            activation: Activation::Relu,
            output_activation: Activation::Identity,
            topology: Topology::Chain,
            bias: true,
            init: Init::GlorotUniform,
            seed: 0,
        }
    }

    /// Sets the hidden activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the output activation.
    pub fn output_activation(mut self, activation: Activation) -> Self {
        self.output_activation = activation;
        self
    }

    /// Sets the topology.
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    /// Sets whether layers have biases.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the initialisation scheme.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the initialisation seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the sizes and draws the weights.
    pub fn build(&self) -> Result<Mlp> {
        // An unusable `PRUNELAB_SIMD` is reported before any work.
        crate::kernels::active_family()?;
        if self.sizes.len() < 2 {
            return Err(Error::param(
                "sizes",
                format!(
                    "need at least inputs and outputs, got {} size(s)",
                    self.sizes.len()
                ),
            ));
        }
        if let Some(i) = self.sizes.iter().position(|&s| s == 0) {
            return Err(Error::param("sizes", format!("size {i} is zero")));
        }
        if self.activation == Activation::Softmax {
            return Err(Error::param(
                "activation",
                "softmax is only available as an output activation",
            ));
        }
        // Every parameter, counted with overflow checks, against what the machine has.
        let mut params = 0usize;
        let mut fan_in = self.sizes[0];
        for &fan_out in &self.sizes[1..] {
            let layer = fan_out
                .checked_mul(fan_in)
                .and_then(|w| w.checked_add(if self.bias { fan_out } else { 0 }));
            params = layer
                .and_then(|l| params.checked_add(l))
                .unwrap_or(usize::MAX);
            fan_in = match self.topology {
                Topology::Chain => fan_out,
                Topology::DenselyConnected => fan_in.saturating_add(fan_out),
            };
        }
        crate::mem::ensure("a network of these sizes", crate::mem::bytes(params, 4))?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let n_layers = self.sizes.len() - 1;
        let mut layers = Vec::with_capacity(n_layers);
        let mut fan_in = self.sizes[0];
        let sigmoid_hidden = self.activation == Activation::Sigmoid;
        for k in 0..n_layers {
            let fan_out = self.sizes[k + 1];
            let bound = self.init.bound(fan_in, fan_out, sigmoid_hidden);
            let weight = Array2::from_shape_vec(
                (fan_out, fan_in),
                Init::draw("a layer's weights", bound, fan_out * fan_in, &mut rng)?,
            )
            .expect("shape matches the drawn length");
            let bias = if self.bias {
                let values = Init::draw("a layer's biases", bound, fan_out, &mut rng)?;
                Some(Array1::from(values))
            } else {
                None
            };
            let activation = if k + 1 == n_layers {
                self.output_activation
            } else {
                self.activation
            };
            layers.push(Dense::new(weight, bias, activation)?);
            fan_in = match self.topology {
                Topology::Chain => fan_out,
                Topology::DenselyConnected => fan_in + fan_out,
            };
        }
        Mlp::from_layers(self.sizes[0], self.topology, layers)
    }
}

/// A multi-layer perceptron of [`Dense`] layers, chained or densely connected.
///
/// Build one from layer sizes with [`Mlp::config`], or hand-set every weight with [`Mlp::from_layers`]:
///
/// ```
/// use prunelab::nn::{Activation, Dense, Mlp, Topology};
/// use ndarray::array;
///
/// let mlp = Mlp::from_layers(2, Topology::Chain, vec![
///     Dense::new(array![[1.0, -1.0], [5.0, 2.0]], Some(array![0.1, 0.2]), Activation::Relu)?,
///     Dense::new(array![[0.5, 0.5]], None, Activation::Identity)?,
/// ])?;
/// let y = mlp.forward(&array![[1.0, 0.0]])?;
/// assert!((y[[0, 0]] - 0.5 * 1.1 - 0.5 * 5.2).abs() < 1e-6);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub(in crate::nn) n_inputs: usize,
    pub(in crate::nn) topology: Topology,
    pub(in crate::nn) layers: Vec<Dense>,
}

/// Gradients of a loss with respect to every weight and bias of an [`Mlp`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// ∂L/∂W per layer, each shaped as the layer's weight matrix.
    pub weights: Vec<Array2<f32>>,
    /// ∂L/∂b per layer (`None` for layers without bias).
    pub biases: Vec<Option<Array1<f32>>>,
}

impl Gradients {
    /// Zero gradients shaped for `mlp`.
    pub(crate) fn zeros(mlp: &Mlp) -> Self {
        Self::zeros_except(mlp, |_| false)
    }

    /// Zero gradients shaped for `mlp`, except the weight gradients of the layers for which `skip(k)`
    /// holds, left empty (`0 × 0`): a layer that trains sparse keeps its gradient at its kept entries in
    /// its plan, and nothing reads a whole one unless a tracker does.
    pub(crate) fn zeros_except(mlp: &Mlp, skip: impl Fn(usize) -> bool) -> Self {
        Gradients {
            weights: (mlp.layers.iter().enumerate())
                .map(|(k, l)| match skip(k) {
                    true => Array2::zeros((0, 0)),
                    false => Array2::zeros(l.weight.raw_dim()),
                })
                .collect(),
            biases: mlp
                .layers
                .iter()
                .map(|l| l.bias.as_ref().map(|b| Array1::zeros(b.len())))
                .collect(),
        }
    }

    /// Gives the layers for which `skip(k)` does not hold a weight gradient of their shape (zeros) where
    /// [`Gradients::zeros_except`] left theirs empty: a layer that no longer trains sparse, say.
    pub(crate) fn fill_in(&mut self, mlp: &Mlp, skip: impl Fn(usize) -> bool) {
        for (k, (g, l)) in self.weights.iter_mut().zip(&mlp.layers).enumerate() {
            if !skip(k) && g.raw_dim() != l.weight.raw_dim() {
                *g = Array2::zeros(l.weight.raw_dim());
            }
        }
    }

    /// Zeroes the gradient of every pruned weight and bias: pruned parameters are not parameters. Layers
    /// for which `sparse(k)` holds are skipped for weights: their pruned gradients are never written; so
    /// are weight gradients left empty ([`Gradients::zeros_except`]).
    pub(crate) fn apply_masks(&mut self, mlp: &Mlp, sparse: impl Fn(usize) -> bool) {
        // A select, not a branch: a mask's kept entries are as unpredictable as the pruning that made it.
        let masked = |g: &mut f32, &keep: &bool| *g = if keep { *g } else { 0.0 };
        for (k, layer) in mlp.layers.iter().enumerate() {
            let held = !self.weights[k].is_empty();
            if let (Some(m), false, true) = (&layer.mask, sparse(k), held) {
                ndarray::Zip::from(&mut self.weights[k])
                    .and(m)
                    .for_each(masked);
            }
            if let (Some(m), Some(g)) = (&layer.bias_mask, &mut self.biases[k]) {
                ndarray::Zip::from(g).and(m).for_each(masked);
            }
        }
    }

    /// Whether every value is finite.
    pub(crate) fn all_finite(&self) -> bool {
        let finite = |a: &Array2<f32>| match a.as_slice() {
            Some(v) => crate::linalg::all_finite(v),
            None => a.iter().all(|v| v.is_finite()),
        };
        self.weights.iter().all(finite)
            && self
                .biases
                .iter()
                .flatten()
                .all(|b| b.iter().all(|v| v.is_finite()))
    }
}

/// Reusable buffers for batched forward and backward passes.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// Input and every layer's output, side by side: `(rows, inputs + Σ widths)`.
    pub(crate) acts: Array2<f32>,
    /// ∂L/∂(acts), then ∂L/∂z in place, same shape as `acts`.
    pub(crate) dacts: Array2<f32>,
    /// Pre-activations per layer, `(rows, width)`.
    pub(crate) pre: Vec<Array2<f32>>,
    /// When set, each backward pass writes per hidden unit `Σ_samples |a · ∂L/∂a|` here.
    pub(crate) utility: Option<Vec<Array1<f32>>>,
    /// When set, the layers it holds run their sparse kernels ([`Workspace::plan_sparse`]).
    pub(crate) sparse: Option<SparsePlan>,
}

impl Workspace {
    /// Buffers for up to `rows` samples.
    pub(crate) fn new(mlp: &Mlp, rows: usize) -> Self {
        let width = mlp.total_width();
        Workspace {
            acts: Array2::zeros((rows, width)),
            dacts: Array2::zeros((rows, width)),
            pre: mlp
                .layers
                .iter()
                .map(|l| Array2::zeros((rows, l.n_outputs())))
                .collect(),
            utility: None,
            sparse: None,
        }
    }

    /// Lets the layers of `mlp` with at most `below` of their weights kept train through the sparse kernels
    /// ([`SparsePlan`]), for batches of up to the rows these buffers hold; made again after any mask changes.
    /// Writes the kept weights of the layers training sparse back first (see [`Workspace::write_back`]).
    pub(crate) fn plan_sparse(&mut self, mlp: &mut Mlp, below: f64) {
        self.write_back(mlp);
        let columns: Vec<_> = (0..mlp.layers.len())
            .map(|k| (mlp.input_range(k), mlp.output_range(k)))
            .collect();
        self.sparse = SparsePlan::new(
            &mlp.layers,
            &columns,
            mlp.n_inputs,
            self.acts.nrows(),
            below,
            mlp.topology == Topology::Chain,
            self.utility.is_some(),
        );
    }

    /// Writes the weights that the layers training sparse updated in their sparse form into `mlp`'s weight
    /// matrices: needed before anything outside the training passes reads `mlp`'s weights.
    pub(crate) fn write_back(&mut self, mlp: &mut Mlp) {
        if let Some(plan) = &mut self.sparse {
            plan.write_back(&mut mlp.layers);
        }
    }

    /// Makes sure the buffers fit `mlp` and hold at least `rows` samples.
    pub(crate) fn ensure(&mut self, mlp: &Mlp, rows: usize) {
        let fits = self.acts.nrows() >= rows
            && self.acts.ncols() == mlp.total_width()
            && self.pre.len() == mlp.layers.len()
            && self
                .pre
                .iter()
                .zip(&mlp.layers)
                .all(|(p, l)| p.ncols() == l.n_outputs());
        if !fits || self.sparse.as_ref().is_some_and(|p| !p.holds(rows)) {
            assert!(
                !self.sparse.as_ref().is_some_and(SparsePlan::has_pending),
                "a sparse plan's weights are written back before its workspace is made again"
            );
            let track = self.utility.is_some();
            *self = Workspace::new(mlp, rows.max(self.acts.nrows()));
            if track {
                self.track_utility(mlp);
            }
        }
    }

    /// Turns on the per-unit Taylor score of hidden layers in backward passes.
    pub(crate) fn track_utility(&mut self, mlp: &Mlp) {
        let hidden = &mlp.layers[..mlp.layers.len() - 1];
        self.utility = Some(
            hidden
                .iter()
                .map(|l| Array1::zeros(l.n_outputs()))
                .collect(),
        );
    }
}

impl Mlp {
    /// Starts a [`MlpConfig`] for the given layer sizes (inputs, hidden widths…, outputs).
    pub fn config(sizes: &[usize]) -> MlpConfig {
        MlpConfig::new(sizes)
    }

    /// A network from explicit layers. Layer input sizes must match the topology: in a chain each layer's
    /// inputs equal the previous layer's outputs; densely connected, layer `k` takes
    /// `n_inputs + Σ_{i<k} outputs_i`.
    pub fn from_layers(n_inputs: usize, topology: Topology, layers: Vec<Dense>) -> Result<Self> {
        if n_inputs == 0 {
            return Err(Error::param("n_inputs", "must be positive"));
        }
        if layers.is_empty() {
            return Err(Error::Empty { what: "layer list" });
        }
        let mut expected = n_inputs;
        for (k, layer) in layers.iter().enumerate() {
            if layer.n_inputs() != expected {
                return Err(Error::ShapeMismatch {
                    context: "Mlp::from_layers",
                    expected: format!("layer {k} with {expected} inputs"),
                    found: format!("{} inputs", layer.n_inputs()),
                });
            }
            if layer.activation == Activation::Softmax && k + 1 != layers.len() {
                return Err(Error::param(
                    "activation",
                    format!(
                        "softmax on hidden layer {k}; it is only available on the output layer"
                    ),
                ));
            }
            expected = match topology {
                Topology::Chain => layer.n_outputs(),
                Topology::DenselyConnected => expected + layer.n_outputs(),
            };
        }
        Ok(Mlp {
            n_inputs,
            topology,
            layers,
        })
    }

    /// Number of inputs.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_outputs())
    }

    /// Number of layers (hidden plus output).
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    /// The topology.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// One layer, or an error if `index` is out of range.
    pub fn layer(&self, index: usize) -> Result<&Dense> {
        self.layers.get(index).ok_or(Error::IndexOutOfRange {
            what: "layer",
            index,
            len: self.layers.len(),
        })
    }

    pub(crate) fn layer_mut(&mut self, index: usize) -> Result<&mut Dense> {
        let len = self.layers.len();
        self.layers.get_mut(index).ok_or(Error::IndexOutOfRange {
            what: "layer",
            index,
            len,
        })
    }

    /// Layer sizes: inputs, then each layer's width.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.n_inputs)
            .chain(self.layers.iter().map(|l| l.n_outputs()))
            .collect()
    }

    /// Number of connections (weights), not counting biases.
    pub fn n_weights(&self) -> usize {
        self.layers.iter().map(|l| l.n_weights()).sum()
    }

    /// Number of trainable parameters (weights and biases).
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(|l| l.n_params()).sum()
    }

    /// The weight from input `input` to unit `unit` of layer `layer`.
    pub fn weight(&self, layer: usize, unit: usize, input: usize) -> Result<f32> {
        let l = self.layer(layer)?;
        check_index("unit", unit, l.n_outputs())?;
        check_index("input", input, l.n_inputs())?;
        Ok(l.weight[[unit, input]])
    }

    /// Sets one weight. Fails on an out-of-range index or a non-finite value.
    pub fn set_weight(
        &mut self,
        layer: usize,
        unit: usize,
        input: usize,
        value: f32,
    ) -> Result<()> {
        check_finite([value].iter(), "weight value")?;
        let l = self.layer_mut(layer)?;
        check_index("unit", unit, l.n_outputs())?;
        check_index("input", input, l.n_inputs())?;
        if value != 0.0 && !l.is_kept(unit, input) {
            return Err(Error::Incompatible(format!(
                "weight ({unit}, {input}) of layer {layer} is pruned; unprune it before setting a non-zero value"
            )));
        }
        l.weight[[unit, input]] = value;
        Ok(())
    }

    /// Replaces a layer's weight matrix with one of the same shape. Pruned positions must hold zero.
    pub fn set_weights(&mut self, layer: usize, weight: Array2<f32>) -> Result<()> {
        check_finite(weight.iter(), "weight matrix")?;
        let l = self.layer_mut(layer)?;
        if weight.dim() != l.weight.dim() {
            return Err(Error::shape(
                "Mlp::set_weights",
                format!("{:?}", l.weight.dim()),
                format!("{:?}", weight.dim()),
            ));
        }
        if let Some(m) = &l.mask {
            if weight.iter().zip(m.iter()).any(|(&w, &k)| !k && w != 0.0) {
                return Err(Error::Incompatible(format!(
                    "the new weights of layer {layer} are non-zero at pruned positions"
                )));
            }
        }
        l.weight = weight.as_standard_layout().into_owned().into();
        Ok(())
    }

    /// Replaces a layer's bias with one of the same length. Fails if the layer has no bias.
    pub fn set_bias(&mut self, layer: usize, bias: Array1<f32>) -> Result<()> {
        check_finite(bias.iter(), "bias")?;
        let l = self.layer_mut(layer)?;
        if let Some(m) = &l.bias_mask {
            if bias.iter().zip(m.iter()).any(|(&b, &k)| !k && b != 0.0) {
                return Err(Error::Incompatible(format!(
                    "the new bias of layer {layer} is non-zero at pruned units"
                )));
            }
        }
        match &mut l.bias {
            Some(b) if b.len() == bias.len() => {
                *b = bias;
                Ok(())
            }
            Some(b) => Err(Error::shape("Mlp::set_bias", b.len(), bias.len())),
            None => Err(Error::Incompatible(format!("layer {layer} has no bias"))),
        }
    }

    /// Total columns of the activation buffer: inputs plus every layer's width.
    pub(crate) fn total_width(&self) -> usize {
        self.n_inputs + self.layers.iter().map(|l| l.n_outputs()).sum::<usize>()
    }

    /// Columns of the activation buffer holding layer `k`'s output.
    pub(crate) fn output_range(&self, k: usize) -> Range<usize> {
        let lo = self.n_inputs
            + self.layers[..k]
                .iter()
                .map(|l| l.n_outputs())
                .sum::<usize>();
        lo..lo + self.layers[k].n_outputs()
    }

    /// Columns of the activation buffer that layer `k` reads.
    pub(crate) fn input_range(&self, k: usize) -> Range<usize> {
        match (self.topology, k) {
            (_, 0) => 0..self.n_inputs,
            (Topology::Chain, _) => self.output_range(k - 1),
            (Topology::DenselyConnected, _) => 0..self.output_range(k - 1).end,
        }
    }

    /// Checks that `x` is a non-empty, finite `(samples, n_inputs)` matrix.
    pub(crate) fn check_input(&self, x: &ArrayView2<f32>) -> Result<()> {
        check_batch(x, self.n_inputs)
    }

    /// Runs the forward pass on the first `x.nrows()` rows of `ws`. `x` must have been checked.
    pub(crate) fn forward_ws(&self, ws: &mut Workspace, x: ArrayView2<f32>) {
        let n = x.nrows();
        ws.ensure(self, n);
        crate::elementwise::zip2(cut(ws.acts.view_mut(), n, 0..self.n_inputs), x, |a, x| {
            *a = x
        });
        if let Some(plan) = &mut ws.sparse {
            plan.start_pass();
        }
        for (k, layer) in self.layers.iter().enumerate() {
            let inputs = self.input_range(k);
            let outputs = self.output_range(k);
            let (left, right) = ws.acts.view_mut().split_at(Axis(1), outputs.start);
            let z = &mut ws.pre[k];
            let cols = z.ncols();
            let mut z = cut(z.view_mut(), n, 0..cols);
            match &mut ws.sparse {
                Some(plan) if plan.is_sparse(k) => {
                    if plan.forward(k, layer, left.view(), inputs, &mut z) {
                        // Outputs kept feature-major: the plan applied the activation.
                        continue;
                    }
                }
                _ => {
                    let input = cut(left.view(), n, inputs);
                    crate::linalg::matmul(input, layer.weight.t(), &mut z, false);
                }
            }
            let out = cut(right, n, 0..outputs.len());
            let bias = layer.bias.as_ref().map(|b| b.view());
            layer.activation.forward(z, bias, Some(out));
        }
    }

    /// Back-propagates through `n` rows of `ws`. The output layer's ∂L/∂z must already be in `ws.dacts`
    /// (columns of the last layer); gradients are written (not added) into `grads`.
    pub(crate) fn backward_ws(&self, ws: &mut Workspace, n: usize, grads: &mut Gradients) {
        let last = self.layers.len() - 1;
        let hidden_end = self.output_range(last).start;
        // A chain's hidden outputs have one reader each, whose step writes their gradient whole; densely
        // connected ones sum their readers' contributions, from zero.
        let fresh = self.topology == Topology::Chain;
        if !fresh {
            ws.dacts
                .slice_mut(s![..n, self.n_inputs..hidden_end])
                .fill(0.0);
        }
        for k in (0..self.layers.len()).rev() {
            let layer = &self.layers[k];
            let inputs = self.input_range(k);
            let outputs = self.output_range(k);
            // The hidden outputs this layer reads (the network input needs no gradient).
            let lo = inputs.start.max(self.n_inputs);
            if let Some(plan) = ws.sparse.as_mut().filter(|p| p.feature_major(k)) {
                let hidden = (inputs.end > lo).then(|| cut(ws.dacts.view_mut(), n, lo..inputs.end));
                let db = grads.biases[k].as_mut();
                plan.backward_feature_major(k, n, db, hidden);
                continue;
            }
            let (dleft, dright) = ws.dacts.view_mut().split_at(Axis(1), outputs.start);
            let mut dz = cut(dright, n, 0..outputs.len());
            if k != last {
                let a = cut(ws.acts.view(), n, outputs.clone());
                if let Some(utility) = &mut ws.utility {
                    // First-order Taylor score: Σ over samples of |activation × ∂L/∂activation|.
                    for (u, score) in utility[k].iter_mut().enumerate() {
                        *score = a
                            .column(u)
                            .iter()
                            .zip(dz.column(u).iter())
                            .map(|(&a, &d)| (a * d).abs())
                            .sum();
                    }
                }
                let z = cut(ws.pre[k].view(), n, 0..outputs.len());
                layer.activation.backward(z, a, dz.view_mut());
            }
            let sparse = ws.sparse.as_mut().filter(|p| p.is_sparse(k));
            if sparse.is_none() {
                let input = cut(ws.acts.view(), n, inputs.clone());
                crate::linalg::matmul(dz.t(), input, &mut grads.weights[k].view_mut(), false);
            }
            if let Some(db) = &mut grads.biases[k] {
                // Column sums in sample order (both ways add the same numbers in the same order): narrow
                // layers column by column, wide ones row by row so that the additions vectorise.
                if db.len() < 16 {
                    for (d, col) in db.iter_mut().zip(dz.columns()) {
                        *d = col.fold(0.0, |s, &v| s + v);
                    }
                } else {
                    db.fill(0.0);
                    for row in dz.rows() {
                        *db += &row;
                    }
                }
            }
            // Propagate to the hidden outputs this layer reads.
            let hidden = (inputs.end > lo).then(|| cut(dleft, n, lo..inputs.end));
            match sparse {
                Some(plan) => plan.backward(k, dz.view(), inputs, hidden, fresh),
                None => {
                    if let Some(mut target) = hidden {
                        let w = layer.weight.slice(s![.., lo - inputs.start..]);
                        crate::linalg::matmul(dz.view(), w, &mut target, !fresh);
                    }
                }
            }
        }
    }

    /// The network output for a batch `x` of shape `(samples, inputs)`.
    pub fn forward<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array2<f32>> {
        self.forward_view(x.into())
    }

    /// Inference in blocks of [`INFER_BLOCK`](super::batch::INFER_BLOCK) rows, each carried through every layer while its activations
    /// sit in cache; blocks run in parallel on rayon's threads.
    fn forward_view(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_input(&x)?;
        crate::kernels::active_family()?;
        // Loops of forward passes (timing, evaluation) stop at the stop button.
        crate::interrupt::checkpoint("inference", || "before a forward pass".into())?;
        let layers: Vec<LayerView> = self
            .layers
            .iter()
            .map(|l| LayerView {
                weight: l.weight.view(),
                // One to four samples stream the weights packed (made once, kept until they change).
                packed: if x.nrows() <= crate::kernels::dense::GEMV_ROWS {
                    l.weight.packed()
                } else {
                    None
                },
                bias: l.bias.as_ref().map(|b| b.view()),
                activation: l.activation,
            })
            .collect();
        // (Each layer's product may fan out: the pass runs on the pool, see `on_pool`.)
        let (inputs, topology) = (self.n_inputs, self.topology);
        Ok(crate::linalg::on_pool(|| {
            dense_inference(inputs, topology, &layers, x)
        }))
    }

    /// Class probabilities, shape `(samples, classes)`. A single sigmoid output gives two columns,
    /// `[1 − p, p]`, as scikit-learn's `predict_proba`; a softmax output gives its rows. Other outputs are not
    /// probabilities and give [`Error::Incompatible`].
    pub fn predict_proba<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array2<f32>> {
        let out = self.forward_view(x.into())?;
        match (self.output_activation(), out.ncols()) {
            (Activation::Sigmoid, 1) => {
                let p = out.column(0);
                let mut proba = Array2::zeros((out.nrows(), 2));
                proba.column_mut(0).assign(&p.mapv(|p| 1.0 - p));
                proba.column_mut(1).assign(&p);
                Ok(proba)
            }
            (Activation::Sigmoid | Activation::Softmax, _) => Ok(out),
            (act, _) => Err(Error::Incompatible(format!(
                "predict_proba needs a sigmoid or softmax output, this network's output is {act}"
            ))),
        }
    }

    /// The probability of the positive class for a binary classifier with one sigmoid output: the score
    /// that [`average_precision`](crate::metrics::average_precision) expects.
    pub fn predict_score<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array1<f32>> {
        if self.output_activation() != Activation::Sigmoid || self.n_outputs() != 1 {
            return Err(Error::Incompatible(format!(
                "predict_score needs one sigmoid output, this network has {} {} output(s)",
                self.n_outputs(),
                self.output_activation()
            )));
        }
        Ok(self.forward_view(x.into())?.column(0).to_owned())
    }

    /// Class labels: with one output, `1` where the output exceeds 0.5 (scikit-learn's cut), else the
    /// index of the largest output.
    pub fn predict<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array1<usize>> {
        let out = self.forward_view(x.into())?;
        Ok(labels_from_output(out.view()))
    }

    /// The output activation.
    pub fn output_activation(&self) -> Activation {
        self.layers
            .last()
            .map_or(Activation::Identity, |l| l.activation)
    }

    /// The loss of the network on a dataset (without any L2 penalty).
    pub fn loss(&self, data: &Dataset, loss: Loss) -> Result<f32> {
        Ok(self.loss_and_gradients(data, loss, 0.0)?.0)
    }

    /// The loss on a dataset and its gradients with respect to every parameter, with an optional L2
    /// penalty `alpha` as scikit-learn defines it (`0.5·alpha·Σ‖W‖² / n_samples`, weights only).
    pub fn loss_and_gradients(
        &self,
        data: &Dataset,
        loss: Loss,
        alpha: f32,
    ) -> Result<(f32, Gradients)> {
        if !(alpha >= 0.0 && alpha.is_finite()) {
            return Err(Error::param(
                "alpha",
                format!("must be finite and >= 0, got {alpha}"),
            ));
        }
        loss.check_output(self.output_activation())?;
        let x = data.records.view();
        self.check_input(&x)?;
        let y = loss.encode_targets(&data.targets, self.n_outputs())?;
        let n = x.nrows();
        let mut ws = Workspace::new(self, n);
        let mut grads = Gradients::zeros(self);
        self.forward_ws(&mut ws, x);
        let value = self.loss_backward(&mut ws, y.view(), loss, alpha, &mut grads);
        Ok((value, grads))
    }

    /// After a forward pass over `y.nrows()` rows: computes the loss (with L2 penalty), writes the output
    /// layer's ∂L/∂z into `ws`, back-propagates, and adds the penalty's gradient. Returns the loss.
    pub(crate) fn loss_backward(
        &self,
        ws: &mut Workspace,
        y: ArrayView2<f32>,
        loss: Loss,
        alpha: f32,
        grads: &mut Gradients,
    ) -> f32 {
        let n = y.nrows();
        let last = self.layers.len() - 1;
        let out_cols = self.output_range(last);
        let value = {
            let z = cut(ws.pre[last].view(), n, 0..out_cols.len());
            let a = cut(ws.acts.view(), n, out_cols.clone());
            let mut dz = cut(ws.dacts.view_mut(), n, out_cols);
            loss.value_and_grad(z, a, y, self.output_activation(), dz.view_mut())
        };
        self.backward_ws(ws, n, grads);
        let mut total = value as f64;
        if alpha > 0.0 {
            let scale = alpha / n as f32;
            let mut sq = 0.0f64;
            for (k, (layer, g)) in self.layers.iter().zip(grads.weights.iter_mut()).enumerate() {
                let square = |w: f32| (w as f64) * (w as f64);
                match ws.sparse.as_mut().and_then(|p| p.kept_values_grad_mut(k)) {
                    // The same sum and updates as below without the pruned zeros (adding `+0.0` to a
                    // sum of squares changes no bit), on the sparse layer's own weights and gradient.
                    Some((kept, g)) => {
                        sq += kept.iter().map(|&w| square(w)).sum::<f64>();
                        for (g, &w) in g.iter_mut().zip(kept) {
                            *g += scale * w;
                        }
                    }
                    None => {
                        sq += layer.weight.iter().map(|&w| square(w)).sum::<f64>();
                        g.scaled_add(scale, &layer.weight);
                    }
                }
            }
            total += 0.5 * alpha as f64 * sq / n as f64;
        }
        let sparse = ws.sparse.as_ref();
        grads.apply_masks(self, |k| sparse.is_some_and(|p| p.is_sparse(k)));
        total as f32
    }
}

/// Rows `..n` and columns `cols` of `m`, the workspace's views of a batch: the same view as
/// `m.slice(s![..n, cols])`, cut one axis at a time and not at all where the whole axis is taken (a small
/// network's epoch takes some thirty such views, which cost as much as its arithmetic the general way).
fn cut<S: ndarray::RawData<Elem = f32>>(
    mut m: ndarray::ArrayBase<S, ndarray::Ix2>,
    n: usize,
    cols: Range<usize>,
) -> ndarray::ArrayBase<S, ndarray::Ix2> {
    if n != m.nrows() {
        m.slice_axis_inplace(Axis(0), (..n).into());
    }
    if cols != (0..m.ncols()) {
        m.slice_axis_inplace(Axis(1), cols.into());
    }
    m
}

fn check_index(what: &'static str, index: usize, len: usize) -> Result<()> {
    if index < len {
        Ok(())
    } else {
        Err(Error::IndexOutOfRange { what, index, len })
    }
}
