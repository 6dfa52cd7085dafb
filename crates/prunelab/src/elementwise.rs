//! Element-wise passes over the training workspace's `(samples, units)` views.
//!
//! The workspace keeps every layer's outputs side by side in one matrix, so a layer's view has contiguous
//! rows spaced by the workspace's width. `ndarray::Zip` walks such a view a row at a time, setting up a
//! strided loop of `units` steps per sample; for a small network (a handful of units per layer) that
//! set-up costs more than the arithmetic. These passes walk each row as slices, a one-column view as
//! one strided column, and leave any other layout to `Zip`. Each element gets the same operation whichever
//! way it is walked (the same bits).

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Zip};

/// Fewer columns than this are walked column by column by the passes that may take any order (each
/// a strided run over the samples), more row by row: a row of a few values costs more to set up than to
/// walk.
const NARROW: usize = 8;

/// `f(x, y)` for each element of `x` and the one at the same place in `y` (same shape), in any order.
pub(crate) fn zip2(
    mut x: ArrayViewMut2<f32>,
    y: ArrayView2<f32>,
    mut f: impl FnMut(&mut f32, f32),
) {
    if x.ncols() < NARROW && x.nrows() > x.ncols() {
        for (xc, yc) in x.columns_mut().into_iter().zip(y.columns()) {
            Zip::from(xc).and(yc).for_each(|x, &y| f(x, y));
        }
        return;
    }
    for (mut xr, yr) in x.rows_mut().into_iter().zip(y.rows()) {
        if let (Some(xs), Some(ys)) = (xr.as_slice_mut(), yr.as_slice()) {
            xs.iter_mut().zip(ys).for_each(|(x, &y)| f(x, y));
            continue;
        }
        Zip::from(&mut xr).and(&yr).for_each(|x, &y| f(x, y));
    }
}

/// `f(x, y, w)` for each element of `x` and the ones at the same place in `y` and `w` (same shape), in
/// the order of the rows (a sum taken in `f` comes out the same bits as a row-major walk's).
pub(crate) fn zip3(
    mut x: ArrayViewMut2<f32>,
    y: ArrayView2<f32>,
    w: ArrayView2<f32>,
    mut f: impl FnMut(&mut f32, f32, f32),
) {
    if x.ncols() == 1 && y.ncols() == 1 && w.ncols() == 1 {
        Zip::from(x.column_mut(0))
            .and(y.column(0))
            .and(w.column(0))
            .for_each(|x, &y, &w| f(x, y, w));
        return;
    }
    for ((mut xr, yr), wr) in x.rows_mut().into_iter().zip(y.rows()).zip(w.rows()) {
        if let (Some(xs), Some(ys), Some(ws)) = (xr.as_slice_mut(), yr.as_slice(), wr.as_slice()) {
            for ((x, &y), &w) in xs.iter_mut().zip(ys).zip(ws) {
                f(x, y, w);
            }
            continue;
        }
        Zip::from(&mut xr)
            .and(&yr)
            .and(&wr)
            .for_each(|x, &y, &w| f(x, y, w));
    }
}

/// `f(x, y, w, v)` for each element of `x` and the ones at the same place in `y`, `w` and `v` (same
/// shape), in the order of the rows, as [`zip3`].
pub(crate) fn zip4(
    mut x: ArrayViewMut2<f32>,
    y: ArrayView2<f32>,
    w: ArrayView2<f32>,
    v: ArrayView2<f32>,
    mut f: impl FnMut(&mut f32, f32, f32, f32),
) {
    if x.ncols() == 1 && y.ncols() == 1 && w.ncols() == 1 && v.ncols() == 1 {
        Zip::from(x.column_mut(0))
            .and(y.column(0))
            .and(w.column(0))
            .and(v.column(0))
            .for_each(|x, &y, &w, &v| f(x, y, w, v));
        return;
    }
    let rows = x.rows_mut().into_iter().zip(y.rows());
    for ((mut xr, yr), (wr, vr)) in rows.zip(w.rows().into_iter().zip(v.rows())) {
        if let (Some(xs), Some(ys), Some(ws), Some(vs)) = (
            xr.as_slice_mut(),
            yr.as_slice(),
            wr.as_slice(),
            vr.as_slice(),
        ) {
            for (((x, &y), &w), &v) in xs.iter_mut().zip(ys).zip(ws).zip(vs) {
                f(x, y, w, v);
            }
            continue;
        }
        Zip::from(&mut xr)
            .and(&yr)
            .and(&wr)
            .and(&vr)
            .for_each(|x, &y, &w, &v| f(x, y, w, v));
    }
}

/// `f(z, a, b)` for each element of `z` and `a` (same shape) with `b` the entry of `bias` for its column,
/// in any order.
pub(crate) fn with_bias(
    mut z: ArrayViewMut2<f32>,
    mut a: ArrayViewMut2<f32>,
    bias: ArrayView1<f32>,
    mut f: impl FnMut(&mut f32, &mut f32, f32),
) {
    if z.ncols() < NARROW && z.nrows() > z.ncols() {
        let columns = z.columns_mut().into_iter().zip(a.columns_mut());
        for ((zc, ac), &b) in columns.zip(bias.iter()) {
            Zip::from(zc).and(ac).for_each(|z, a| f(z, a, b));
        }
        return;
    }
    if let Some(bs) = bias.as_slice() {
        for (mut zr, mut ar) in z.rows_mut().into_iter().zip(a.rows_mut()) {
            if let (Some(zs), Some(as_)) = (zr.as_slice_mut(), ar.as_slice_mut()) {
                for ((z, a), &b) in zs.iter_mut().zip(as_.iter_mut()).zip(bs) {
                    f(z, a, b);
                }
                continue;
            }
            Zip::from(&mut zr)
                .and(&mut ar)
                .and(&bias)
                .for_each(|z, a, &b| f(z, a, b));
        }
        return;
    }
    Zip::from(&mut z)
        .and(&mut a)
        .and_broadcast(&bias)
        .for_each(|z, a, &b| f(z, a, b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array1, Array2, ShapeBuilder};

    /// Distinct values in a `(rows, cols + 3)` matrix, whose first `cols` columns are a view with rows
    /// spaced by the wider width, as the workspace's are.
    fn wide(rows: usize, cols: usize, seed: f32) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols + 3), |(r, c)| seed + (r * 31 + c) as f32 * 0.25)
    }

    /// The same values in column-major storage.
    fn column_major(m: ArrayView2<f32>) -> Array2<f32> {
        let mut out = Array2::zeros(m.dim().f());
        out.assign(&m);
        out
    }

    /// Each helper visits every element once with its partners from the same place: on views with
    /// spaced rows, single columns, contiguous and column-major matrices alike.
    #[test]
    fn every_element_once_with_its_partners() {
        for (rows, cols) in [(1, 1), (7, 1), (5, 3), (9, 6), (1, 17), (9, 12)] {
            let (y, w, v) = (
                wide(rows, cols, 1.0),
                wide(rows, cols, 2.0),
                wide(rows, cols, 3.0),
            );
            let (y, w, v) = (
                y.slice(s![..rows, ..cols]),
                w.slice(s![..rows, ..cols]),
                v.slice(s![..rows, ..cols]),
            );
            let x0 = wide(rows, cols, 4.0).slice(s![..rows, ..cols]).to_owned();
            let want = Array2::from_shape_fn((rows, cols), |i| {
                let x = x0[i] * 2.0 + y[i] + 10.0 * w[i] + 100.0 * v[i];
                x + y[i] * w[i] - y[i]
            });
            for layout in 0..3 {
                let mut spaced = wide(rows, cols, 4.0);
                let mut owned = match layout {
                    1 => column_major(x0.view()),
                    _ => x0.clone(),
                };
                let mut x = match layout {
                    0 => spaced.slice_mut(s![..rows, ..cols]),
                    _ => owned.view_mut(),
                };
                zip4(x.view_mut(), y, w, v, |x, y, w, v| {
                    *x = *x * 2.0 + y + 10.0 * w + 100.0 * v
                });
                zip3(x.view_mut(), y, w, |x, y, w| *x += y * w);
                zip2(x.view_mut(), y, |x, y| *x -= y);
                assert_eq!(x, want, "{rows}x{cols}, layout {layout}");
                // Column-major partners too.
                let mut x = x0.clone();
                let (yc, wc, vc) = (column_major(y), column_major(w), column_major(v));
                zip4(
                    x.view_mut(),
                    yc.view(),
                    wc.view(),
                    vc.view(),
                    |x, y, w, v| *x = *x * 2.0 + y + 10.0 * w + 100.0 * v,
                );
                zip3(x.view_mut(), yc.view(), wc.view(), |x, y, w| *x += y * w);
                zip2(x.view_mut(), yc.view(), |x, y| *x -= y);
                assert_eq!(x, want, "{rows}x{cols}, column-major partners");
            }
        }
    }

    /// [`with_bias`] adds each column's own bias, with the bias contiguous or strided.
    #[test]
    fn bias_by_column() {
        for (rows, cols) in [(1, 1), (7, 1), (5, 3), (9, 6), (10, 9)] {
            let z0 = wide(rows, cols, 1.0).slice(s![..rows, ..cols]).to_owned();
            let bias = Array1::from_shape_fn(cols, |c| c as f32 * 0.5 - 1.0);
            let strided = Array1::from_shape_fn(2 * cols, |c| (c / 2) as f32 * 0.5 - 1.0);
            let want = Array2::from_shape_fn((rows, cols), |(r, c)| z0[(r, c)] + bias[c]);
            for b in [bias.view(), strided.slice(s![..;2])] {
                for layout in 0..2 {
                    let mut z = match layout {
                        0 => z0.clone(),
                        _ => column_major(z0.view()),
                    };
                    let mut a = wide(rows, cols, 0.0);
                    with_bias(
                        z.view_mut(),
                        a.slice_mut(s![..rows, ..cols]),
                        b,
                        |z, a, b| {
                            *z += b;
                            *a = *z * 3.0;
                        },
                    );
                    assert_eq!(z, want);
                    assert_eq!(a.slice(s![..rows, ..cols]), want.mapv(|v| v * 3.0));
                }
            }
        }
    }
}
