//! Golden images: one chart of every kind, drawn from fixed data and compared pixel by pixel with the PNG
//! committed under `tests/golden/` (a pixel counts as changed when a channel moves by more than 48; at most
//! 0.3% of the pixels may change, for rasterisation noise). A change that breaks a chart fails here; after an
//! intended change, look at the new images and commit them: `PRUNELAB_BLESS=1 cargo test -p prunelab-plot
//! --test golden` rewrites them.

use std::path::PathBuf;

use ndarray::array;
use prunelab::prelude::*;
use prunelab_plot::*;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn pixels(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Compares `chart` with `tests/golden/NAME.png`; returns a description of the difference, if any.
fn compare(name: &str, chart: &Chart) -> Option<String> {
    let path = golden_dir().join(format!("{name}.png"));
    if std::env::var_os("PRUNELAB_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        chart.save(&path).unwrap();
        return None;
    }
    let Ok(stored) = std::fs::read(&path) else {
        return Some(format!("{name}: no golden image at {}", path.display()));
    };
    let (w0, h0, a) = pixels(&stored);
    let (w1, h1, b) = pixels(chart.png());
    if (w0, h0) != (w1, h1) {
        return Some(format!("{name}: size {w1}x{h1}, golden {w0}x{h0}"));
    }
    let changed = a
        .chunks(3)
        .zip(b.chunks(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 48))
        .count();
    let share = changed as f64 / (w0 * h0) as f64;
    (share > 0.003).then(|| {
        let out = std::env::temp_dir().join(format!("prunelab-golden-{name}.png"));
        chart.save(&out).unwrap();
        format!(
            "{name}: {changed} pixels ({:.2}%) differ from the golden image; the new one is at {}",
            100.0 * share,
            out.display()
        )
    })
}

fn hand_set() -> Mlp {
    Mlp::from_layers(
        2,
        Topology::Chain,
        vec![
            Dense::new(
                array![[1.0, -1.0], [5.0, 2.0]],
                Some(array![0.1, 0.2]),
                Activation::Relu,
            )
            .unwrap(),
            Dense::new(
                array![[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]],
                Some(array![-0.2, 0.1, 0.3, 0.5]),
                Activation::Relu,
            )
            .unwrap(),
            Dense::new(
                array![[0.1, -0.2, 0.3, 0.1], [-0.1, 0.8, 0.1, -0.4]],
                Some(array![0.1, -0.2]),
                Activation::Identity,
            )
            .unwrap(),
        ],
    )
    .unwrap()
}

/// Accuracy against sparsity for weight pruning (and unit pruning, unless `broken`), with guide lines.
fn sparsity_chart(broken: bool) -> Chart {
    let mut chart = LineChart::new("Accuracy against sparsity")
        .x_label("sparsity")
        .y_label("accuracy")
        .line_points(
            "weight",
            [
                (0.0, 0.98),
                (0.5, 0.97),
                (0.8, 0.94),
                (0.9, 0.8),
                (0.99, 0.25),
            ],
        );
    if !broken {
        chart = chart.line_points(
            "unit",
            [
                (0.0, 0.98),
                (0.5, 0.94),
                (0.8, 0.6),
                (0.9, 0.3),
                (0.99, 0.06),
            ],
        );
    }
    chart
        .vline(0.7, "t = 0.700")
        .hline(0.9, "bound")
        .draw()
        .unwrap()
}

/// Means and spreads over seeds as a sweep's merged table gives them (fixed numbers).
fn sweep_bands() -> Chart {
    let x = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95];
    let series = [
        (
            "weight (layerwise)",
            [0.979, 0.981, 0.981, 0.978, 0.975, 0.961],
            [0.004, 0.004, 0.003, 0.003, 0.004, 0.006],
        ),
        (
            "random (layerwise)",
            [0.979, 0.970, 0.963, 0.956, 0.946, 0.932],
            [0.004, 0.004, 0.004, 0.005, 0.008, 0.008],
        ),
        (
            "unit L2 (layerwise)",
            [0.979, 0.980, 0.979, 0.973, 0.935, 0.720],
            [0.004, 0.006, 0.004, 0.006, 0.010, 0.072],
        ),
    ];
    series
        .iter()
        .fold(
            LineChart::new("digits: accuracy over 8 seeds")
                .x_label("sparsity")
                .y_label("accuracy (mean ± 1 sd)"),
            |chart, (name, mean, sd)| {
                chart.line_band(
                    *name,
                    (0..6).map(|i| (x[i], mean[i], mean[i] - sd[i], mean[i] + sd[i])),
                )
            },
        )
        .draw()
        .unwrap()
}

/// One chart of each kind, from data that does not depend on training.
fn charts() -> Vec<(&'static str, Chart)> {
    let iris = data::iris_binary();
    let model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()
        .unwrap();
    let sweep = ThresholdSweep::linspace(&model, 200)
        .unwrap()
        .run_metric(&model, &iris, Metric::AveragePrecision)
        .unwrap();
    let wide = Mlp::config(&[64, 128, 64, 10]).seed(1).build().unwrap();
    let digits = data::digits().unwrap();
    let loss: Vec<f32> = (0..60)
        .map(|i| 0.9 * (-(i as f32) / 15.0).exp() + 0.05)
        .collect();
    let mut pruned = hand_set();
    UnitPruning::l1(0.5).apply(&mut pruned).unwrap();
    vec![
        ("line_legend_guides", sparsity_chart(false)),
        (
            "log_loss",
            LineChart::new("Training loss")
                .x_label("epoch")
                .y_label("loss")
                .log_y(true)
                .values("original", &loss)
                .values("pruned", &loss.iter().map(|v| v * 1.5).collect::<Vec<_>>())
                .draw()
                .unwrap(),
        ),
        ("sweep_bands", sweep_bands()),
        ("scatter_matrix", ScatterMatrix::new(&iris).draw().unwrap()),
        (
            "threshold_sweep",
            ThresholdSweepPlot::new(&sweep).bound(0.5).draw().unwrap(),
        ),
        ("histogram", WeightHistogram::new(&wide).draw().unwrap()),
        (
            "histogram_log",
            WeightHistogram::new(&wide).log_counts(true).draw().unwrap(),
        ),
        (
            "network",
            NetworkPlot::new(&hand_set())
                .weight_labels(false)
                .draw()
                .unwrap(),
        ),
        (
            "network_labels",
            NetworkPlot::new(&Mlp::config(&[2, 2, 4, 2]).seed(0).build().unwrap())
                .title("2-2-4-2, weights on the edges")
                .draw()
                .unwrap(),
        ),
        (
            "network_before_after",
            NetworkPlot::before_after(&hand_set(), &pruned).unwrap(),
        ),
        (
            "image_grid",
            ImageGrid::new(&digits)
                .samples(0..10)
                .title("Digits")
                .draw()
                .unwrap(),
        ),
    ]
}

#[test]
fn every_chart_kind_matches_its_golden_image() {
    let mut problems: Vec<String> = charts()
        .iter()
        .filter_map(|(name, chart)| compare(name, chart))
        .collect();
    // The same charts at twice the pixels (the only test here that changes the process-wide ratio).
    set_pixel_ratio(2).unwrap();
    let doubled = charts();
    set_pixel_ratio(1).unwrap();
    for ((name, one), (_, two)) in charts().iter().zip(&doubled) {
        let (w, h) = one.size();
        if two.size() != (2 * w, 2 * h) {
            problems.push(format!(
                "{name}: {:?} at ratio 2, {:?} at 1",
                two.size(),
                (w, h)
            ));
        }
    }
    for (name, chart) in doubled
        .iter()
        .filter(|(n, _)| ["line_legend_guides", "network"].contains(n))
    {
        problems.extend(compare(&format!("{name}_2x"), chart));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_comparison_sees_a_broken_chart() {
    // The same data with one series missing must not pass as the golden image.
    let broken = sparsity_chart(true);
    if std::env::var_os("PRUNELAB_BLESS").is_none() {
        assert!(compare("line_legend_guides", &broken).is_some());
    }
}
