//! A layer's weight matrix, with the packed copy that small-batch inference streams.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};

/// Columns per packed panel: one 8-lane vector of the transposed weights per input.
pub(crate) const PANEL: usize = 8;

/// A weight matrix `(outputs, inputs)` and, made on first use by inference on one to four samples, its
/// transpose packed in panels of [`PANEL`] outputs (`packed[(u / 8) · inputs · 8 + i · 8 + u % 8]`, the last
/// panel padded with zeros), which the kernels read as fast as memory delivers it. Reading the matrix goes
/// through `Deref`; any mutable access (`DerefMut`) drops the packed copy, so it never goes stale.
#[derive(Default)]
pub(crate) struct Weights {
    matrix: Array2<f32>,
    packed: OnceLock<Option<Box<[f32]>>>,
}

impl Weights {
    /// The packed transpose, made now if needed; `None` where the memory for it could not be had (the
    /// product then reads the matrix itself, with the same numbers).
    pub(crate) fn packed(&self) -> Option<&[f32]> {
        self.packed
            .get_or_init(|| pack(self.matrix.view()))
            .as_deref()
    }
}

/// A packed transpose made on first use for a matrix kept elsewhere (a sparse network's dense layers, which
/// never change). Clones start empty; two caches always compare equal (a cache is no part of a value).
#[derive(Default)]
pub(crate) struct PackCache(OnceLock<Option<Box<[f32]>>>);

impl PackCache {
    /// The packed transpose of `w` (the matrix this cache belongs to), made now if needed; `None` where
    /// the memory for it could not be had.
    pub(crate) fn get(&self, w: ArrayView2<f32>) -> Option<&[f32]> {
        self.0.get_or_init(|| pack(w)).as_deref()
    }
}

impl Clone for PackCache {
    fn clone(&self) -> Self {
        PackCache::default()
    }
}

impl PartialEq for PackCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PackCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackCache")
    }
}

/// The packed transpose of `w`, or `None` if it cannot be allocated.
fn pack(w: ArrayView2<f32>) -> Option<Box<[f32]>> {
    let (outputs, inputs) = w.dim();
    let panels = outputs.div_ceil(PANEL);
    let len = panels.checked_mul(inputs)?.checked_mul(PANEL)?;
    let mut packed = Vec::new();
    packed.try_reserve_exact(len).ok()?;
    packed.resize(len, 0.0);
    for (u, row) in w.rows().into_iter().enumerate() {
        let base = (u / PANEL) * inputs * PANEL + u % PANEL;
        for (i, &v) in row.iter().enumerate() {
            packed[base + i * PANEL] = v;
        }
    }
    Some(packed.into_boxed_slice())
}

impl From<Array2<f32>> for Weights {
    fn from(matrix: Array2<f32>) -> Self {
        Weights {
            matrix,
            packed: OnceLock::new(),
        }
    }
}

/// The matrix only: the packed copy is a cache.
impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.matrix.fmt(f)
    }
}

impl Clone for Weights {
    fn clone(&self) -> Self {
        Weights::from(self.matrix.clone())
    }
}

impl PartialEq for Weights {
    fn eq(&self, other: &Self) -> bool {
        self.matrix == other.matrix
    }
}

impl Deref for Weights {
    type Target = Array2<f32>;

    fn deref(&self) -> &Array2<f32> {
        &self.matrix
    }
}

impl DerefMut for Weights {
    fn deref_mut(&mut self) -> &mut Array2<f32> {
        self.packed.take();
        &mut self.matrix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_copy_follows_every_change() {
        let mut w = Weights::from(Array2::from_shape_fn((11, 5), |(u, i)| (u * 5 + i) as f32));
        let p = w.packed().unwrap().to_vec();
        assert_eq!(p.len(), 2 * 5 * PANEL);
        assert_eq!(p[3 * PANEL + 2], w[[2, 3]]);
        assert_eq!(p[5 * PANEL + 4 * PANEL + 1], w[[9, 4]]);
        assert_eq!(p[5 * PANEL + 4 * PANEL + 3], 0.0);
        w[[9, 4]] = -1.0;
        assert_eq!(w.packed().unwrap()[5 * PANEL + 4 * PANEL + 1], -1.0);
        let c = w.clone();
        assert_eq!(c, w);
    }
}
