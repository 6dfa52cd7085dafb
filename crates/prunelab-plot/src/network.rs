//! The network graph: a layered layout, labelled nodes, edges with width by |w| and colour by sign, pruned
//! edges hidden or faint, and for small graphs each kept edge's weight printed on it.
//!
//! Weight labels are placed greedily, edge by edge in the graph's order (layer by layer, then by target unit,
//! then by source): each label is tried centred on its edge at a fixed series of positions along it (t = 0.5,
//! 0.35, 0.65, 0.25, 0.75, ...) and goes to the first position where its box stays inside the drawing area
//! and clear of every label placed before it, every node circle and node name, and every point where two drawn
//! edges cross. A position where the box also touches no other edge is preferred; one that only keeps clear of
//! the crossings is taken when no such position exists. A label with no free position is left out rather than
//! drawn over something ([`EdgeLabelLayout::skipped`] lists them).

use plotters::prelude::*;
use prunelab::graph::{Edge, NetworkGraph, Node};
use prunelab::nn::Mlp;

use crate::chart::{ensure_font, font_px, pixel_ratio, px, render, Chart, FAMILY};
use crate::error::{PlotError, Result};

/// How pruned connections are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrunedEdges {
    /// Not drawn.
    #[default]
    Hidden,
    /// Drawn thin and light grey.
    Faint,
}

/// A drawing of a network as a layered graph: inputs on the left, outputs on the right; edge width grows with
/// |w|, blue for positive and red for negative weights; removed units are grey.
///
/// ```
/// use prunelab::prelude::*;
/// use prunelab_plot::NetworkPlot;
///
/// let mut model = Mlp::config(&[2, 2, 4, 2]).seed(0).build()?;
/// let before = model.clone();
/// UnitPruning::l1(0.5).apply(&mut model)?;
/// let chart = NetworkPlot::before_after(&before, &model)?;
/// assert_eq!(chart.size(), (1120, 460));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPlot<'a> {
    /// The network.
    pub model: &'a Mlp,
    /// Title above the graph.
    pub title: String,
    /// How pruned edges are drawn.
    pub pruned: PrunedEdges,
    /// Node labels (`x0`, `h1.2`, `y0`) when layers are small enough.
    pub labels: bool,
    /// Width in pixels (default 560).
    pub width: u32,
    /// Height in pixels (default 460).
    pub height: u32,
    /// Whether each kept edge's weight is printed on it; `None` (the default) prints them when at most
    /// [`NetworkPlot::MAX_LABELLED_EDGES`] edges are drawn.
    pub weight_labels: Option<bool>,
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const RED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(200, 200, 200);
const NODE: RGBColor = RGBColor(50, 50, 50);

impl<'a> NetworkPlot<'a> {
    /// A plot of `model` with the default options.
    pub fn new(model: &'a Mlp) -> Self {
        let pruned = model.prune_report();
        let title = if model.is_pruned() {
            format!("{} of {} connections", pruned.remaining, pruned.weights)
        } else {
            format!("{} connections", pruned.weights)
        };
        NetworkPlot {
            model,
            title,
            pruned: PrunedEdges::Hidden,
            labels: true,
            width: 560,
            height: 460,
            weight_labels: None,
        }
    }

    /// The most drawn edges (kept ones, plus pruned ones when they are drawn faint) for which weight labels are
    /// on by default: faint edges count because they crowd the picture and cross other edges all the same.
    pub const MAX_LABELLED_EDGES: usize = 40;

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets how pruned edges are drawn.
    pub fn pruned(mut self, pruned: PrunedEdges) -> Self {
        self.pruned = pruned;
        self
    }

    /// Sets the size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Sets whether each kept edge's weight is printed on it (by default: when at most
    /// [`NetworkPlot::MAX_LABELLED_EDGES`] edges are drawn). Pruned edges get no label.
    pub fn weight_labels(mut self, on: bool) -> Self {
        self.weight_labels = Some(on);
        self
    }

    /// Two networks side by side, titled "before" and "after", pruned edges faint on the right. The panels
    /// compare structure, so they carry no weight labels.
    pub fn before_after(before: &Mlp, after: &Mlp) -> Result<Chart> {
        let a = NetworkPlot::new(before).weight_labels(false);
        let b = NetworkPlot::new(after)
            .pruned(PrunedEdges::Faint)
            .weight_labels(false);
        let (ta, tb) = (
            format!("before: {}", a.title),
            format!("after: {}", b.title),
        );
        Chart::grid(&[a.title(ta).draw()?, b.title(tb).draw()?], 2)
    }

    /// Where the weight labels go (in device pixels), and the node boxes and edge crossings they keep clear of;
    /// no labels when they are off (see [`NetworkPlot::weight_labels`]).
    ///
    /// ```
    /// use prunelab::prelude::*;
    /// use prunelab_plot::NetworkPlot;
    ///
    /// let model = Mlp::config(&[2, 2, 4, 2]).seed(0).build()?;
    /// let layout = NetworkPlot::new(&model).edge_labels()?;
    /// assert_eq!(layout.labels.len(), 20); // 2*2 + 2*4 + 4*2 edges
    /// assert!(layout.labels.iter().all(|l| layout.nodes.iter().all(|n| !l.rect.intersects(n))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn edge_labels(&self) -> Result<EdgeLabelLayout> {
        ensure_font()?;
        Ok(self.layout().labels)
    }

    /// Node positions, removed units, the drawn edges and the weight labels.
    fn layout(&self) -> Layout {
        let graph = self.model.graph();
        let sizes = &graph.layer_sizes;
        let (w, h) = (self.width as f64, self.height as f64);
        // The bottom strip holds the legend.
        let (left, right, top, bottom) = (40.0, 40.0, 50.0, 52.0);
        let columns = sizes.len();
        let max_nodes = sizes.iter().copied().max().unwrap_or(1);
        let radius = ((h - top - bottom) / (2.5 * max_nodes as f64)).clamp(1.5, 14.0);
        let names = self.labels && radius >= 8.0;
        // Node positions, by node id.
        let mut pos = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let x = left + (w - left - right) * node.layer as f64 / (columns - 1).max(1) as f64;
            let n = sizes[node.layer] as f64;
            let gap = (h - top - bottom) / n;
            let y = top + gap * (node.index as f64 + 0.5);
            let r = pixel_ratio() as f64;
            pos.push(((x * r) as i32, (y * r) as i32));
        }
        // Removed units (every incoming weight pruned) are grey.
        let mut removed = vec![false; graph.nodes.len()];
        let mut id = self.model.n_inputs();
        for layer in self.model.layers() {
            let mask = layer.mask();
            for u in 0..layer.n_outputs() {
                removed[id] = mask.as_ref().is_some_and(|m| m.row(u).iter().all(|&k| !k));
                id += 1;
            }
        }
        // In the graph's order; `draw` sorts them for painting.
        let edges: Vec<Edge> = graph
            .edges
            .iter()
            .filter(|e| !(e.pruned && self.pruned == PrunedEdges::Hidden))
            .copied()
            .collect();
        let mut layout = Layout {
            pos,
            removed,
            radius,
            names,
            columns,
            edges,
            labels: EdgeLabelLayout::default(),
        };
        layout.labels = self.place_labels(&graph, &layout);
        layout
    }

    /// The node name's text and its box (the white ground drawn under it), in device pixels.
    fn node_name(node: &Node, layout: &Layout) -> (String, LabelRect) {
        let text = if node.layer == 0 {
            format!("x{}", node.index)
        } else if node.layer + 1 == layout.columns {
            format!("y{}", node.index)
        } else {
            format!("h{}.{}", node.layer, node.index)
        };
        let (tw, th) = text_size(&text, font_px(12));
        let (x, y) = layout.pos[node.id];
        let (tx, ty) = (x - tw / 2, y + px(layout.radius as i32) + px(3));
        let rect = LabelRect {
            x0: (tx - px(2)) as f64,
            y0: (ty - px(1)) as f64,
            x1: (tx + tw + px(2)) as f64,
            y1: (ty + th + px(1)) as f64,
        };
        (text, rect)
    }

    /// Places the weight labels (see the module's documentation for the algorithm).
    fn place_labels(&self, graph: &NetworkGraph, layout: &Layout) -> EdgeLabelLayout {
        let on = self
            .weight_labels
            .unwrap_or(layout.edges.len() <= Self::MAX_LABELLED_EDGES);
        if !on {
            return EdgeLabelLayout::default();
        }
        let point = |id: usize| (layout.pos[id].0 as f64, layout.pos[id].1 as f64);
        let node_margin = px(3) as f64;
        let r = px(layout.radius as i32) as f64 + px(1) as f64 + node_margin;
        let nodes: Vec<LabelRect> = graph
            .nodes
            .iter()
            .map(|n| {
                let (x, y) = point(n.id);
                LabelRect {
                    x0: x - r,
                    y0: y - r,
                    x1: x + r,
                    y1: y + r,
                }
            })
            .collect();
        let node_names: Vec<LabelRect> = if layout.names {
            graph
                .nodes
                .iter()
                .map(|n| Self::node_name(n, layout).1.grow(px(1) as f64))
                .collect()
        } else {
            Vec::new()
        };
        // Every point where two drawn edges cross (edges that only share an end node meet inside its circle).
        let margin = px(4) as f64;
        let segments: Vec<((f64, f64), (f64, f64))> = layout
            .edges
            .iter()
            .map(|e| (point(e.from), point(e.to)))
            .collect();
        let mut crossings = Vec::new();
        for (i, a) in segments.iter().enumerate() {
            for b in &segments[i + 1..] {
                if let Some((x, y)) = crossing(*a, *b) {
                    crossings.push(LabelRect {
                        x0: x - margin,
                        y0: y - margin,
                        x1: x + margin,
                        y1: y + margin,
                    });
                }
            }
        }
        // Labels stay below the title and above the legend.
        let area = LabelRect {
            x0: 0.0,
            y0: px(38) as f64,
            x1: px(self.width as i32) as f64,
            y1: px(self.height as i32 - 36) as f64,
        };
        let (pad_x, pad_y) = (px(LABEL_PAD.0) as f64, px(LABEL_PAD.1) as f64);
        let gap = px(1) as f64;
        let mut labels: Vec<EdgeLabel> = Vec::new();
        let mut skipped = Vec::new();
        for (k, e) in layout.edges.iter().enumerate() {
            // Pruned edges, and the edges out of a removed unit (drawn grey: they carry nothing), have no
            // weight worth reading.
            if e.pruned || layout.removed[e.from] {
                continue;
            }
            let text = format_weight(e.weight);
            let (tw, th) = text_size(&text, font_px(LABEL_FONT));
            let (bw, bh) = (tw as f64 + 2.0 * pad_x, th as f64 + 2.0 * pad_y);
            let (p, q) = segments[k];
            let rect_at = |t: f64| {
                let (x, y) = (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1));
                let (x0, y0) = ((x - bw / 2.0).round(), (y - bh / 2.0).round());
                LabelRect {
                    x0,
                    y0,
                    x1: x0 + bw,
                    y1: y0 + bh,
                }
            };
            let free = |rect: &LabelRect| {
                rect.inside(&area)
                    && labels.iter().all(|l| !l.rect.grow(gap).intersects(rect))
                    && nodes.iter().all(|n| !n.intersects(rect))
                    && node_names.iter().all(|n| !n.intersects(rect))
                    && crossings.iter().all(|c| !c.intersects(rect))
            };
            let clear_of_edges = |rect: &LabelRect| {
                segments
                    .iter()
                    .enumerate()
                    .all(|(j, s)| j == k || !segment_hits(*s, &rect.grow(gap)))
            };
            let choice = CANDIDATES
                .iter()
                .map(|&t| (t, rect_at(t)))
                .find(|(_, rect)| free(rect) && clear_of_edges(rect))
                .or_else(|| {
                    CANDIDATES
                        .iter()
                        .map(|&t| (t, rect_at(t)))
                        .find(|(_, rect)| free(rect))
                });
            match choice {
                Some((t, rect)) => labels.push(EdgeLabel {
                    from: e.from,
                    to: e.to,
                    weight: e.weight,
                    text,
                    t,
                    rect,
                }),
                None => skipped.push((e.from, e.to)),
            }
        }
        EdgeLabelLayout {
            labels,
            skipped,
            nodes,
            node_names,
            crossings,
        }
    }

    /// Draws the graph.
    pub fn draw(&self) -> Result<Chart> {
        ensure_font()?;
        let layout = self.layout();
        let Layout {
            pos,
            removed,
            radius,
            names,
            labels: weight_labels,
            ..
        } = &layout;
        let (radius, names) = (*radius, *names);
        let mut edges = layout.edges.clone();
        let graph = self.model.graph();
        let h = self.height as f64;
        let max_w = graph
            .edges
            .iter()
            .filter(|e| !e.pruned)
            .map(|e| e.weight.abs())
            .fold(0.0f32, f32::max)
            .max(1e-12);
        edges.sort_by(|a, b| {
            (!a.pruned, a.weight.abs())
                .partial_cmp(&(!b.pruned, b.weight.abs()))
                .expect("finite")
        });
        render(self.width, self.height, &self.title, |root| {
            root.draw(&Text::new(
                self.title.clone(),
                (px(12), px(10)),
                (FAMILY, font_px(20)).into_font(),
            ))
            .map_err(PlotError::draw)?;
            for e in &edges {
                let style = if e.pruned || removed[e.from] {
                    GREY.stroke_width(px(1) as u32)
                } else {
                    let c = if e.weight >= 0.0 { BLUE } else { RED };
                    let width = 1.0 + 5.0 * (e.weight.abs() / max_w) as f64;
                    c.mix(0.35 + 0.6 * (e.weight.abs() / max_w) as f64)
                        .stroke_width((width * pixel_ratio() as f64).round() as u32)
                };
                root.draw(&PathElement::new(vec![pos[e.from], pos[e.to]], style))
                    .map_err(PlotError::draw)?;
            }
            for node in &graph.nodes {
                let fill = if removed[node.id] { GREY } else { WHITE };
                let outline = if removed[node.id] { GREY } else { NODE };
                let radius_px = px(radius as i32);
                root.draw(&Circle::new(pos[node.id], radius_px, fill.filled()))
                    .map_err(PlotError::draw)?;
                root.draw(&Circle::new(
                    pos[node.id],
                    radius_px,
                    outline.stroke_width(px(2) as u32),
                ))
                .map_err(PlotError::draw)?;
                if names {
                    // Centred under the node on a white ground, so no edge runs through the label.
                    let (text, b) = Self::node_name(node, &layout);
                    let style = TextStyle::from((FAMILY, font_px(12)).into_font()).color(&NODE);
                    root.draw(&Rectangle::new(
                        [(b.x0 as i32, b.y0 as i32), (b.x1 as i32, b.y1 as i32)],
                        WHITE.filled(),
                    ))
                    .map_err(PlotError::draw)?;
                    root.draw(&Text::new(
                        text,
                        (b.x0 as i32 + px(2), b.y0 as i32 + px(1)),
                        style,
                    ))
                    .map_err(PlotError::draw)?;
                }
            }
            // Weight labels, dark on a white box, over everything else.
            let style = TextStyle::from((FAMILY, font_px(LABEL_FONT)).into_font()).color(&NODE);
            for l in &weight_labels.labels {
                let b = l.rect;
                root.draw(&Rectangle::new(
                    [(b.x0 as i32, b.y0 as i32), (b.x1 as i32, b.y1 as i32)],
                    WHITE.filled(),
                ))
                .map_err(PlotError::draw)?;
                root.draw(&Text::new(
                    l.text.clone(),
                    (b.x0 as i32 + px(LABEL_PAD.0), b.y0 as i32 + px(LABEL_PAD.1)),
                    style.clone(),
                ))
                .map_err(PlotError::draw)?;
            }
            // The legend: what colour and width mean.
            let y = px(h as i32 - 22);
            let font = TextStyle::from((FAMILY, font_px(13)).into_font()).color(&NODE);
            let mut x = px(14);
            let items: [(RGBColor, u32, &str); 4] = [
                (BLUE, 3, "w > 0"),
                (RED, 3, "w < 0"),
                (BLUE, 6, "thicker: larger |w|"),
                (GREY, 1, "pruned"),
            ];
            for (c, width, label) in items {
                let width = px(width as i32) as u32;
                let style = if c == GREY {
                    c.stroke_width(width)
                } else {
                    c.mix(0.8).stroke_width(width)
                };
                root.draw(&PathElement::new(vec![(x, y), (x + px(26), y)], style))
                    .map_err(PlotError::draw)?;
                root.draw(&Text::new(label, (x + px(32), y - px(8)), font.clone()))
                    .map_err(PlotError::draw)?;
                let tw = root
                    .estimate_text_size(label, &font)
                    .map_or(0, |d| d.0 as i32);
                x += px(32 + 18) + tw;
            }
            Ok(())
        })
    }
}

/// The weight labels' font size in chart pixels.
const LABEL_FONT: u32 = 11;

/// White space around a weight label's text, across and down, in chart pixels: enough that the thickest edge
/// is cut cleanly by the box.
const LABEL_PAD: (i32, i32) = (3, 3);

/// Positions along an edge (0 at its source, 1 at its target) tried for its label, in order.
const CANDIDATES: [f64; 17] = [
    0.5, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8, 0.42, 0.58, 0.3, 0.7, 0.15, 0.85, 0.1, 0.9, 0.05, 0.95,
];

/// What `draw` and `edge_labels` share.
struct Layout {
    pos: Vec<(i32, i32)>,
    removed: Vec<bool>,
    radius: f64,
    names: bool,
    columns: usize,
    edges: Vec<Edge>,
    labels: EdgeLabelLayout,
}

/// A weight as its label shows it: two significant digits, at most two decimals (`0.42`, `-1.3`, `0.05`,
/// `12`), ASCII minus.
pub fn format_weight(w: f32) -> String {
    let a = w.abs();
    let decimals = if a < 0.995 {
        2
    } else if a < 9.95 {
        1
    } else {
        0
    };
    format!("{w:.decimals$}")
}

/// Width and height of `text` in the crate's font at `size` device pixels, as plotters lays it out.
fn text_size(text: &str, size: f64) -> (i32, i32) {
    (FAMILY, size)
        .into_font()
        .box_size(text)
        .map_or((0, 0), |(w, h)| (w as i32, h as i32))
}

/// Where two segments cross, strictly inside both (not at an end, not along a common line).
fn crossing(a: ((f64, f64), (f64, f64)), b: ((f64, f64), (f64, f64))) -> Option<(f64, f64)> {
    let cross = |u: (f64, f64), v: (f64, f64)| u.0 * v.1 - u.1 * v.0;
    let d1 = (a.1 .0 - a.0 .0, a.1 .1 - a.0 .1);
    let d2 = (b.1 .0 - b.0 .0, b.1 .1 - b.0 .1);
    let den = cross(d1, d2);
    if den.abs() < 1e-9 {
        return None;
    }
    let r = (b.0 .0 - a.0 .0, b.0 .1 - a.0 .1);
    let (t, u) = (cross(r, d2) / den, cross(r, d1) / den);
    let eps = 1e-6;
    (t > eps && t < 1.0 - eps && u > eps && u < 1.0 - eps)
        .then_some((a.0 .0 + t * d1.0, a.0 .1 + t * d1.1))
}

/// Whether the segment touches the rectangle (Liang-Barsky clipping).
fn segment_hits(s: ((f64, f64), (f64, f64)), r: &LabelRect) -> bool {
    let (p, q) = s;
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (den, num) in [
        (-dx, p.0 - r.x0),
        (dx, r.x1 - p.0),
        (-dy, p.1 - r.y0),
        (dy, r.y1 - p.1),
    ] {
        if den == 0.0 {
            if num < 0.0 {
                return false;
            }
        } else {
            let t = num / den;
            if den < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

/// An axis-aligned rectangle in device pixels (the PNG's pixels: chart pixels times the pixel ratio), `x`
/// rightwards and `y` downwards.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LabelRect {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
}

impl LabelRect {
    /// Whether the two rectangles share a point (touching borders count).
    pub fn intersects(&self, other: &LabelRect) -> bool {
        self.x0 <= other.x1 && other.x0 <= self.x1 && self.y0 <= other.y1 && other.y0 <= self.y1
    }

    /// Whether `(x, y)` lies in the rectangle, its border included.
    pub fn contains(&self, (x, y): (f64, f64)) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }

    /// The rectangle grown by `m` on every side.
    pub fn grow(&self, m: f64) -> LabelRect {
        LabelRect {
            x0: self.x0 - m,
            y0: self.y0 - m,
            x1: self.x1 + m,
            y1: self.y1 + m,
        }
    }

    /// Whether the rectangle lies within `outer`.
    pub fn inside(&self, outer: &LabelRect) -> bool {
        self.x0 >= outer.x0 && self.y0 >= outer.y0 && self.x1 <= outer.x1 && self.y1 <= outer.y1
    }
}

/// One edge's weight label as placed.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeLabel {
    /// Source node id.
    pub from: usize,
    /// Target node id.
    pub to: usize,
    /// The weight.
    pub weight: f32,
    /// The text shown ([`format_weight`] of the weight).
    pub text: String,
    /// Where along the edge the label's centre sits (0 at the source, 1 at the target).
    pub t: f64,
    /// The label's box (the white ground under the text), in device pixels.
    pub rect: LabelRect,
}

/// The weight labels of a [`NetworkPlot`] and what they keep clear of, all in device pixels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeLabelLayout {
    /// The placed labels, in the graph's edge order.
    pub labels: Vec<EdgeLabel>,
    /// The kept edges (source, target) whose label found no free position and was left out.
    pub skipped: Vec<(usize, usize)>,
    /// Each node circle's bounding box with its margin, by node id (empty when labels are off).
    pub nodes: Vec<LabelRect>,
    /// Each node name's box with its margin, by node id (empty when names or labels are off).
    pub node_names: Vec<LabelRect>,
    /// Each point where two drawn edges cross, as a small box around it (empty when labels are off).
    pub crossings: Vec<LabelRect>,
}
