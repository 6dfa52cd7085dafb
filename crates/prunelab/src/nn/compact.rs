//! Making a pruned network pay: compaction (dead units physically removed, so it becomes an ordinary smaller
//! network) and the sparse inference form (CSR kernels where layers are sparse enough).

use ndarray::{Array1, Array2};

use super::sparse::{SparseLayer, SparseMlp, CROSSOVER_FEW, CROSSOVER_MANY};
use crate::error::{Error, Result};
use crate::nn::{Dense, Mlp, Workspace};

impl Mlp {
    /// A smaller network computing the same function, with dead hidden units removed.
    ///
    /// A unit whose output no longer depends on the input (all incoming weights pruned, or fed only by such
    /// units) outputs a constant: that constant times each outgoing weight is folded into the consumer's bias,
    /// and the unit's row and the consumers' columns are dropped. A unit none of whose outgoing weights is
    /// kept is dropped too. Inputs and outputs are unchanged; remaining masks carry over, so the result is an
    /// ordinary (possibly still sparse) network that trains and saves. A hidden layer that loses every unit
    /// keeps one inert unit (zero weights and bias, all pruned) so the layer structure stays valid; the
    /// output is then constant, as before compaction.
    ///
    /// ```
    /// use prunelab::prelude::*;
    /// use ndarray::array;
    ///
    /// let mut model = Mlp::config(&[3, 8, 8, 2]).seed(4).build()?;
    /// UnitPruning::l1(0.5).apply(&mut model)?;
    /// let small = model.compact()?;
    /// assert_eq!(small.sizes(), vec![3, 4, 4, 2]);
    /// let x = array![[0.3, -1.2, 2.0]];
    /// let (a, b) = (model.forward(&x)?, small.forward(&x)?);
    /// assert!((&a - &b).iter().all(|d| d.abs() < 1e-5));
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn compact(&self) -> Result<Mlp> {
        let n_layers = self.layers.len();
        let last = n_layers - 1;
        let live = self.live_units();
        // Kept units per layer; output units are always kept.
        let keep: Vec<Vec<usize>> = (0..n_layers)
            .map(|k| {
                if k == last {
                    (0..self.layers[k].n_outputs()).collect()
                } else {
                    (0..self.layers[k].n_outputs())
                        .filter(|&u| live[k][u])
                        .collect()
                }
            })
            .collect();
        // Activations at a zero input: removed units' outputs do not depend on the input (or are not used).
        let mut ws = Workspace::new(self, 1);
        self.forward_ws(&mut ws, Array2::zeros((1, self.n_inputs)).view());
        let at_zero = ws.acts.row(0).to_owned();

        // Buffer columns kept in the compact network (inputs always), and the placeholder layers.
        let placeholder: Vec<bool> = (0..n_layers)
            .map(|k| k != last && keep[k].is_empty())
            .collect();
        let mut kept_columns = vec![true; self.total_width()];
        for (k, kept) in keep.iter().enumerate().take(last) {
            let range = self.output_range(k);
            for u in 0..self.layers[k].n_outputs() {
                kept_columns[range.start + u] = kept.contains(&u);
            }
        }

        let mut layers = Vec::with_capacity(n_layers);
        for (k, layer) in self.layers.iter().enumerate() {
            let inputs = self.input_range(k);
            let cols: Vec<usize> = inputs.clone().filter(|&c| kept_columns[c]).collect();
            // Placeholders of earlier layers this layer reads: one zero, pruned column each.
            let placeholder_cols: Vec<usize> = (0..k)
                .filter(|&j| placeholder[j] && self.reads_layer(k, j))
                .map(|j| self.output_range(j).start)
                .collect();
            let rows: Vec<usize> = if placeholder[k] {
                vec![0]
            } else {
                keep[k].clone()
            };
            let local = |c: usize| c - inputs.start;
            // New input order: the buffer order, with placeholders where their layer's columns were.
            let mut order: Vec<(usize, Option<usize>)> =
                cols.iter().map(|&c| (c, Some(c))).collect();
            order.extend(placeholder_cols.iter().map(|&c| (c, None)));
            order.sort_by_key(|&(pos, _)| pos);

            let mut weight = Array2::zeros((rows.len(), order.len()));
            let mut mask = Array2::from_elem((rows.len(), order.len()), true);
            for (r, &u) in rows.iter().enumerate() {
                for (c, &(_, src)) in order.iter().enumerate() {
                    match src {
                        Some(abs) if !placeholder[k] => {
                            weight[[r, c]] = layer.weight[[u, local(abs)]];
                            mask[[r, c]] = layer.is_kept(u, local(abs));
                        }
                        _ => mask[[r, c]] = false,
                    }
                }
            }
            // Fold the removed inputs' constants into the bias.
            let mut bias = layer
                .bias
                .as_ref()
                .map(|b| rows.iter().map(|&u| b[u]).collect::<Array1<f32>>());
            let mut bias_mask = layer
                .bias_mask
                .as_ref()
                .map(|m| rows.iter().map(|&u| m[u]).collect::<Array1<bool>>());
            if placeholder[k] {
                bias = bias.map(|_| Array1::zeros(1));
                bias_mask = layer.bias.as_ref().map(|_| Array1::from_elem(1, false));
            } else {
                let fold: Array1<f32> = rows
                    .iter()
                    .map(|&u| {
                        inputs
                            .clone()
                            .filter(|&c| !kept_columns[c])
                            .map(|c| layer.weight[[u, local(c)]] * at_zero[c])
                            .sum::<f32>()
                    })
                    .collect();
                if fold.iter().any(|&v| v != 0.0) {
                    let b = bias.get_or_insert_with(|| Array1::zeros(rows.len()));
                    *b += &fold;
                    if let Some(m) = &mut bias_mask {
                        // A bias that now carries a folded constant is no longer zero, so it cannot stay
                        // masked: it becomes an ordinary bias.
                        for (i, keep) in m.iter_mut().enumerate() {
                            if !*keep && fold[i] != 0.0 {
                                *keep = true;
                            }
                        }
                    }
                }
            }
            let has_pruned = mask.iter().any(|&k| !k);
            layers.push(Dense {
                weight: weight.into(),
                bias,
                activation: layer.activation,
                mask: has_pruned.then_some(mask),
                bias_mask: bias_mask.filter(|m| m.iter().any(|&k| !k)),
                pruned_values: None,
            });
        }
        let compact = Mlp::from_layers(self.n_inputs, self.topology, layers)?;
        Ok(compact)
    }

    /// Whether layer `k` reads the outputs of layer `j < k`.
    fn reads_layer(&self, k: usize, j: usize) -> bool {
        let r = self.input_range(k);
        let o = self.output_range(j);
        r.start <= o.start && o.end <= r.end
    }
}

impl Mlp {
    /// A [`SparseMlp`] for fast inference: each layer takes the dense or the CSR product by its density
    /// and the batch size, at the measured crossovers [`CROSSOVER_FEW`] and [`CROSSOVER_MANY`], so that
    /// the network is never slower than the dense one at any batch size.
    pub fn to_sparse(&self) -> SparseMlp {
        self.to_sparse_with_crossover(CROSSOVER_FEW, CROSSOVER_MANY)
            .expect("the crossovers lie in [0, 1]")
    }

    /// A [`SparseMlp`] with other crossovers (in `[0, 1]`, for example this machine's, measured by the
    /// `sparse_crossover` example): the CSR product below density `few` for blocks of up to three samples,
    /// and below `many` for larger blocks (a layer between the two keeps both forms). Equal values make
    /// the choice independent of the batch: `(1.0, 1.0)` makes every pruned layer sparse, `(0.0, 0.0)`
    /// keeps every layer dense.
    pub fn to_sparse_with_crossover(&self, few: f64, many: f64) -> Result<SparseMlp> {
        for (name, v) in [("few", few), ("many", many)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::param(name, format!("must lie in [0, 1], got {v}")));
            }
        }
        Ok(SparseMlp::from_layers(
            self.n_inputs,
            self.topology,
            self.layers
                .iter()
                .map(|l| SparseLayer::from_dense(l, few, many))
                .collect(),
        ))
    }
}
