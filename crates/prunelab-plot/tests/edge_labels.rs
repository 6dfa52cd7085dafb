//! Weight labels on small network graphs: every kept edge gets one (but those out of a removed unit, drawn grey), none overlaps another label, a node or a
//! point where two edges cross, the text is the weight with two significant digits, and graphs with more than
//! 40 drawn edges get none unless asked.

use prunelab::prelude::*;
use prunelab_plot::*;

fn small(seed: u64) -> Mlp {
    Mlp::config(&[2, 2, 4, 2]).seed(seed).build().unwrap()
}

/// The weight as the labels are specified to show it, written out independently of the crate.
fn expected_text(w: f32) -> String {
    let a = w.abs();
    if a < 0.995 {
        format!("{w:.2}")
    } else if a < 9.95 {
        format!("{w:.1}")
    } else {
        format!("{w:.0}")
    }
}

/// Node centres, from the node boxes (squares centred on the nodes).
fn centres(layout: &EdgeLabelLayout) -> Vec<(f64, f64)> {
    layout
        .nodes
        .iter()
        .map(|r| ((r.x0 + r.x1) / 2.0, (r.y0 + r.y1) / 2.0))
        .collect()
}

/// Points where two of `edges` cross strictly inside both, computed here from the node centres.
fn crossing_points(model: &Mlp, layout: &EdgeLabelLayout, with_pruned: bool) -> Vec<(f64, f64)> {
    let c = centres(layout);
    let segs: Vec<_> = model
        .graph()
        .edges
        .iter()
        .filter(|e| with_pruned || !e.pruned)
        .map(|e| (c[e.from], c[e.to]))
        .collect();
    let mut out = Vec::new();
    for (i, &(p, q)) in segs.iter().enumerate() {
        for &(r, s) in &segs[i + 1..] {
            let d1 = (q.0 - p.0, q.1 - p.1);
            let d2 = (s.0 - r.0, s.1 - r.1);
            let den = d1.0 * d2.1 - d1.1 * d2.0;
            if den.abs() < 1e-9 {
                continue;
            }
            let w = (r.0 - p.0, r.1 - p.1);
            let t = (w.0 * d2.1 - w.1 * d2.0) / den;
            let u = (w.0 * d1.1 - w.1 * d1.0) / den;
            if t > 1e-6 && t < 1.0 - 1e-6 && u > 1e-6 && u < 1.0 - 1e-6 {
                out.push((p.0 + t * d1.0, p.1 + t * d1.1));
            }
        }
    }
    out
}

/// Checks that no label overlaps another label, a node, a node name or an edge crossing.
fn assert_clear(model: &Mlp, layout: &EdgeLabelLayout, with_pruned: bool) {
    for (i, a) in layout.labels.iter().enumerate() {
        for b in &layout.labels[i + 1..] {
            assert!(
                !a.rect.intersects(&b.rect),
                "labels {} and {} overlap: {:?} {:?}",
                a.text,
                b.text,
                a.rect,
                b.rect
            );
        }
        for (id, n) in layout.nodes.iter().enumerate() {
            assert!(!a.rect.intersects(n), "label {} covers node {id}", a.text);
        }
        for n in &layout.node_names {
            assert!(!a.rect.intersects(n), "label {} covers a node name", a.text);
        }
        for c in &layout.crossings {
            assert!(!a.rect.intersects(c), "label {} covers a crossing", a.text);
        }
        // Independently: no crossing point (with a couple of pixels to spare) lies in a label box.
        for p in crossing_points(model, layout, with_pruned) {
            assert!(
                !a.rect.grow(2.0).contains(p),
                "label {} covers the crossing at {p:?}",
                a.text
            );
        }
        // The label sits on its own edge.
        let c = centres(layout);
        let (s, e) = (c[a.from], c[a.to]);
        let mid = (s.0 + a.t * (e.0 - s.0), s.1 + a.t * (e.1 - s.1));
        assert!(
            a.rect.grow(1.0).contains(mid),
            "label {} is off its edge",
            a.text
        );
    }
}

#[test]
fn every_kept_edge_of_a_small_network_gets_a_clear_label() {
    for seed in 0..6 {
        let model = small(seed);
        let layout = NetworkPlot::new(&model).edge_labels().unwrap();
        assert_eq!(model.graph().edges.len(), 20);
        assert_eq!(layout.labels.len(), 20, "seed {seed}: {:?}", layout.skipped);
        assert!(layout.skipped.is_empty());
        assert_eq!(layout.nodes.len(), 10);
        assert!(!layout.crossings.is_empty(), "2 -> 4 -> 2 edges cross");
        assert_clear(&model, &layout, false);
    }
}

#[test]
fn labels_show_the_weight_with_two_significant_digits() {
    let model = small(0);
    let graph = model.graph();
    let layout = NetworkPlot::new(&model).edge_labels().unwrap();
    for l in &layout.labels {
        let edge = graph
            .edges
            .iter()
            .find(|e| (e.from, e.to) == (l.from, l.to))
            .expect("a label belongs to an edge");
        assert_eq!(l.weight, edge.weight);
        assert_eq!(l.text, expected_text(edge.weight));
        assert_eq!(l.text, format_weight(edge.weight));
    }
    for (w, text) in [
        (0.4242, "0.42"),
        (-1.27, "-1.3"),
        (0.05, "0.05"),
        (-0.996, "-1.0"),
        (5.0, "5.0"),
        (12.3, "12"),
        (0.0, "0.00"),
    ] {
        assert_eq!(format_weight(w), text);
    }
}

#[test]
fn pruned_edges_get_no_label() {
    let mut model = small(1);
    ThresholdPruning::new(0.3).apply(&mut model).unwrap();
    let graph = model.graph();
    let kept = graph.n_kept();
    assert!(kept < 20 && kept > 0);
    let labelled = expected_labelled(&model).len();
    for pruned in [PrunedEdges::Hidden, PrunedEdges::Faint] {
        let layout = NetworkPlot::new(&model)
            .pruned(pruned)
            .edge_labels()
            .unwrap();
        assert_eq!(layout.labels.len(), labelled, "{pruned:?}");
        for l in &layout.labels {
            assert!(graph
                .edges
                .iter()
                .any(|e| (e.from, e.to) == (l.from, l.to) && !e.pruned));
        }
        assert_clear(&model, &layout, pruned == PrunedEdges::Faint);
    }
}

#[test]
fn more_than_40_edges_get_no_labels_by_default() {
    // 4*8 + 8*4 + 4*2 = 72 edges.
    let big = Mlp::config(&[4, 8, 4, 2]).seed(3).build().unwrap();
    assert!(big.graph().edges.len() > NetworkPlot::MAX_LABELLED_EDGES);
    let layout = NetworkPlot::new(&big).edge_labels().unwrap();
    assert!(layout.labels.is_empty());
    assert_eq!(layout, EdgeLabelLayout::default());
    // Asked for, they come, and still overlap nothing (those that find no room are left out).
    let forced = NetworkPlot::new(&big)
        .weight_labels(true)
        .edge_labels()
        .unwrap();
    assert!(!forced.labels.is_empty());
    assert_eq!(forced.labels.len() + forced.skipped.len(), 72);
    assert_clear(&big, &forced, false);
    // Exactly 40 edges: on.
    let forty = Mlp::config(&[4, 5, 4]).seed(2).build().unwrap();
    assert_eq!(forty.graph().edges.len(), 40);
    assert!(!NetworkPlot::new(&forty)
        .edge_labels()
        .unwrap()
        .labels
        .is_empty());
}

#[test]
fn faint_pruned_edges_count_towards_the_limit() {
    // 48 edges, 40 or fewer kept: labelled when pruned edges are hidden, not when they are drawn faint.
    let mut model = Mlp::config(&[4, 6, 4]).seed(4).build().unwrap();
    assert_eq!(model.graph().edges.len(), 48);
    WeightPruning::magnitude(0.5).apply(&mut model).unwrap();
    assert!(model.graph().n_kept() <= 40);
    let hidden = NetworkPlot::new(&model).edge_labels().unwrap();
    assert!(!hidden.labels.is_empty());
    let faint = NetworkPlot::new(&model)
        .pruned(PrunedEdges::Faint)
        .edge_labels()
        .unwrap();
    assert!(faint.labels.is_empty());
}

#[test]
fn the_toggle_turns_labels_off_and_changes_the_pixels() {
    let model = small(0);
    let off = NetworkPlot::new(&model).weight_labels(false);
    assert!(off.edge_labels().unwrap().labels.is_empty());
    let with = NetworkPlot::new(&model).draw().unwrap();
    let without = off.draw().unwrap();
    assert_eq!(with.size(), without.size());
    assert_ne!(with.png(), without.png());
    assert_eq!(with, NetworkPlot::new(&model).draw().unwrap());
    if let Some(dir) = std::env::var_os("PRUNELAB_LABELS_OUT") {
        for seed in 0..6 {
            NetworkPlot::new(&small(seed))
                .draw()
                .unwrap()
                .save(std::path::Path::new(&dir).join(format!("labels_{seed}.png")))
                .unwrap();
        }
    }
}

#[test]
fn edges_out_of_a_removed_unit_get_no_label() {
    let mut model = small(2);
    let score = UnitScore::Incoming {
        norm: Norm::L1,
        with_bias: true,
    };
    UnitPruning::new(score, 0.5).apply(&mut model).unwrap();
    let expected = expected_labelled(&model);
    assert!(
        expected.len() < model.graph().n_kept(),
        "the test needs a removed unit with live edges out"
    );
    let layout = NetworkPlot::new(&model).edge_labels().unwrap();
    let mut got: Vec<(usize, usize)> = layout.labels.iter().map(|l| (l.from, l.to)).collect();
    got.sort_unstable();
    assert_eq!(got, expected);
}

/// The edges that should carry a label, sorted: kept, and not out of a removed unit (one whose every edge in
/// is pruned; inputs have no edges in), which is drawn grey with its edges.
fn expected_labelled(model: &Mlp) -> Vec<(usize, usize)> {
    let graph = model.graph();
    let removed = |node: usize| {
        let into: Vec<_> = graph.edges.iter().filter(|e| e.to == node).collect();
        !into.is_empty() && into.iter().all(|e| e.pruned)
    };
    let mut edges: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .filter(|e| !e.pruned && !removed(e.from))
        .map(|e| (e.from, e.to))
        .collect();
    edges.sort_unstable();
    edges
}
