//! Every chart renders a valid PNG of the requested size, identically for identical data, and bad input is a
//! typed error.

use base64::Engine as _;
use ndarray::array;
use prunelab::prelude::*;
use prunelab_plot::*;

fn decode(chart: &Chart) -> (u32, u32) {
    let decoder = png::Decoder::new(chart.png());
    let reader = decoder.read_info().expect("valid PNG");
    let info = reader.info();
    (info.width, info.height)
}

fn trained() -> (Mlp, Dataset, History) {
    let (train, test) = data::iris_binary().split(0.7, 42).unwrap();
    let mut model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()
        .unwrap();
    let mut trainer = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01))
        .epochs(60)
        .trainer()
        .unwrap();
    let h = trainer
        .fit_validated(&mut model, &train, &test, Metric::Accuracy)
        .unwrap();
    (model, test, h)
}

#[test]
fn every_chart_renders_a_png_of_its_size() {
    let (model, test, history) = trained();
    let sweep = ThresholdSweep::linspace(&model, 50)
        .unwrap()
        .run_metric(&model, &test, Metric::AveragePrecision)
        .unwrap();
    let table = SparsitySweep::new(vec![0.0, 0.5, 0.9])
        .run_metric(&model, &test, Metric::Accuracy)
        .unwrap();
    let mut pruned = model.clone();
    UnitPruning::l1(0.5).apply(&mut pruned).unwrap();
    let charts = [
        (history.plot().unwrap(), (1120, 420)),
        (
            LineChart::new("t")
                .log_y(true)
                .values("a", &[1.0, 0.1, 0.01])
                .draw()
                .unwrap(),
            (800, 480),
        ),
        (
            ThresholdSweepPlot::new(&sweep).bound(0.9).draw().unwrap(),
            (1120, 420),
        ),
        (table.plot().unwrap(), (800, 480)),
        (
            ScatterMatrix::new(&data::iris()).draw().unwrap(),
            (960, 760),
        ),
        (NetworkPlot::new(&model).draw().unwrap(), (560, 460)),
        (
            NetworkPlot::before_after(&model, &pruned).unwrap(),
            (1120, 460),
        ),
        (
            WeightHistogram::new(&model)
                .bins(10)
                .log_counts(true)
                .draw()
                .unwrap(),
            (800, 420),
        ),
    ];
    for (i, (chart, size)) in charts.iter().enumerate() {
        assert_eq!(chart.size(), *size, "chart {i}");
        assert_eq!(decode(chart), *size, "chart {i}");
        assert!(chart.png().len() > 2000, "chart {i} looks empty");
    }
    let grid = Chart::grid(
        &[
            charts[1].0.clone(),
            charts[3].0.clone(),
            charts[5].0.clone(),
        ],
        2,
    )
    .unwrap();
    assert_eq!(grid.size(), (1600, 960));
}

#[test]
fn same_data_gives_the_same_pixels() {
    let (model, _, history) = trained();
    assert_eq!(history.plot().unwrap(), trained().2.plot().unwrap());
    assert_eq!(model.plot().unwrap().png(), model.plot().unwrap().png());
    let a = LineChart::new("x").values("a", &[1.0, 2.0]).draw().unwrap();
    let b = LineChart::new("x").values("a", &[1.0, 2.5]).draw().unwrap();
    assert_ne!(a.png(), b.png());
}

#[test]
fn charts_display_inline_and_save() {
    let chart = LineChart::new("x").values("a", &[1.0, 2.0]).draw().unwrap();
    let block = chart.evcxr_block();
    let mut lines = block.lines();
    assert_eq!(
        lines.next(),
        Some(r#"EVCXR_BEGIN_CONTENT image/png {"alt": "x"}"#)
    );
    let payload = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    assert_eq!(payload, chart.png());
    assert_eq!(lines.next(), Some("EVCXR_END_CONTENT"));
    // The fallbacks: the same image as HTML with its alt text, and the title as plain text.
    assert_eq!(lines.next(), Some("EVCXR_BEGIN_CONTENT text/html"));
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "<img src=\"data:image/png;base64,{}\" alt=\"x\">",
                chart.to_base64()
            )
            .as_str()
        )
    );
    assert_eq!(lines.next(), Some("EVCXR_END_CONTENT"));
    assert_eq!(
        lines.collect::<Vec<_>>(),
        ["EVCXR_BEGIN_CONTENT text/plain", "x", "EVCXR_END_CONTENT"]
    );
    let path = std::env::temp_dir().join(format!("prunelab-chart-{}.png", std::process::id()));
    chart.save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), chart.png());
    std::fs::remove_file(path).ok();
    assert!(matches!(
        chart.save("/nonexistent-dir/x.png"),
        Err(PlotError::Io { .. })
    ));
}

#[test]
fn bad_chart_input_is_a_typed_error() {
    assert!(matches!(
        LineChart::new("empty").draw(),
        Err(PlotError::NoData(_))
    ));
    assert!(matches!(
        LineChart::new("nan").values("a", &[f32::NAN]).draw(),
        Err(PlotError::NoData(_))
    ));
    assert!(matches!(
        LineChart::new("log")
            .log_y(true)
            .values("a", &[0.0, -1.0])
            .draw(),
        Err(PlotError::NoData(_))
    ));
    assert!(matches!(
        LineChart::new("big")
            .values("a", &[1.0])
            .size(10_000, 10)
            .draw(),
        Err(PlotError::Invalid(_))
    ));
    assert!(matches!(Chart::grid(&[], 2), Err(PlotError::NoData(_))));
    let c = LineChart::new("x").values("a", &[1.0]).draw().unwrap();
    assert!(matches!(Chart::grid(&[c], 0), Err(PlotError::Invalid(_))));
    assert!(matches!(
        ScatterMatrix::new(&data::xor()).pairs(&[(0, 5)]).draw(),
        Err(PlotError::Invalid(_))
    ));
    let m = Mlp::from_layers(
        1,
        Topology::Chain,
        vec![Dense::new(array![[0.5]], None, Activation::Identity).unwrap()],
    )
    .unwrap();
    assert!(matches!(
        WeightHistogram::new(&m).bins(0).draw(),
        Err(PlotError::Invalid(_))
    ));
}

#[test]
fn image_grid_draws_digits_with_labels_and_refuses_non_images() {
    let digits = data::digits().unwrap();
    let chart = ImageGrid::new(&digits)
        .samples(0..12)
        .columns(6)
        .draw()
        .unwrap();
    // Two rows of six 8x8 images at 10 screen pixels per image pixel, with gaps and label rows.
    let (w, h) = decode(&chart);
    assert_eq!(w, 12 + 6 * (80 + 12));
    assert_eq!(h, 12 + 2 * (80 + 22 + 12));
    // An image dataset plots as images, not as a scatter matrix of pixels.
    assert_eq!(digits.plot().unwrap().size().0, 12 + 10 * (80 + 12));
    // The ink is where the data is: a [-1, 1]-scaled copy draws the same picture.
    let scaled = digits.normalized(0.5, 0.5).unwrap();
    assert_eq!(
        ImageGrid::new(&scaled).draw().unwrap().png(),
        ImageGrid::new(&digits).draw().unwrap().png()
    );
    let xor = data::xor();
    assert!(matches!(
        ImageGrid::new(&xor).draw(),
        Err(PlotError::Invalid(_))
    ));
    assert!(ImageGrid::new(&digits).samples([5000]).draw().is_err());
    assert!(ImageGrid::new(&digits).samples([]).draw().is_err());
    assert!(ImageGrid::new(&digits).columns(0).draw().is_err());
}
