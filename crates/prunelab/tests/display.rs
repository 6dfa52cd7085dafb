//! HTML tables for notebook display.

use prunelab::display::ScoreTable;
use prunelab::prelude::*;

#[test]
fn reports_and_tables_render_as_html() {
    let mut model = Mlp::config(&[3, 4, 2]).seed(1).build().unwrap();
    UnitPruning::l1(Amount::Count(1)).apply(&mut model).unwrap();
    let html = model.prune_report().to_html();
    assert!(html.starts_with("<table class=\"prunelab\"><caption>Pruning report</caption>"));
    assert!(
        html.contains("<td>3/4</td>")
            && html.contains("<td>total</td>")
            && html.contains("<td>15.0%</td>")
    );

    let data = data::iris();
    let table = SparsitySweep::new(vec![0.0, 0.5])
        .run_metric(
            &Mlp::config(&[4, 6, 3])
                .output_activation(Activation::Softmax)
                .build()
                .unwrap(),
            &data,
            Metric::Accuracy,
        )
        .unwrap();
    let html = table.to_html();
    assert!(html.contains("<th>weight (layerwise)</th>") && html.contains("<td>0.50</td>"));

    let t = ScoreTable::new("a <b> & c", vec![ndarray::array![1.0, 2.5]]);
    assert!(t
        .to_html()
        .contains("<caption>a &lt;b&gt; &amp; c</caption>"));
    assert!(t.to_html().contains("<td>2.5000</td>"));
    // Tiny scores keep their size visible instead of printing as 0.0000.
    let tiny = ScoreTable::new("utility", vec![ndarray::array![2.5e-6, 0.0]]).to_html();
    assert!(
        tiny.contains("<td>2.500e-6</td>") && tiny.contains("<td>0.0000</td>"),
        "{tiny}"
    );

    let h = TrainParams::new(Loss::CrossEntropy, Adam::default())
        .epochs(3)
        .fit(
            &mut Mlp::config(&[4, 3])
                .output_activation(Activation::Softmax)
                .build()
                .unwrap(),
            &data,
        )
        .unwrap();
    assert!(h.to_html().contains("<td>1..=3</td>"));
}
