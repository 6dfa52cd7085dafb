//! The network graph: a layered layout, labelled nodes, edges with width by |w| and colour by sign, pruned
//! edges hidden or faint.

use plotters::prelude::*;
use prunelab::nn::Mlp;

use crate::chart::{font_px, pixel_ratio, px, render, Chart, FAMILY};
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
        }
    }

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

    /// Two networks side by side, titled "before" and "after", pruned edges faint on the right.
    pub fn before_after(before: &Mlp, after: &Mlp) -> Result<Chart> {
        let a = NetworkPlot::new(before);
        let b = NetworkPlot::new(after).pruned(PrunedEdges::Faint);
        let (ta, tb) = (
            format!("before: {}", a.title),
            format!("after: {}", b.title),
        );
        Chart::grid(&[a.title(ta).draw()?, b.title(tb).draw()?], 2)
    }

    /// Draws the graph.
    pub fn draw(&self) -> Result<Chart> {
        let graph = self.model.graph();
        let sizes = &graph.layer_sizes;
        let (w, h) = (self.width as f64, self.height as f64);
        // The bottom strip holds the legend.
        let (left, right, top, bottom) = (40.0, 40.0, 50.0, 52.0);
        let columns = sizes.len();
        let max_nodes = sizes.iter().copied().max().unwrap_or(1);
        let radius = ((h - top - bottom) / (2.5 * max_nodes as f64)).clamp(1.5, 14.0);
        let labels = self.labels && radius >= 8.0;
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
        let max_w = graph
            .edges
            .iter()
            .filter(|e| !e.pruned)
            .map(|e| e.weight.abs())
            .fold(0.0f32, f32::max)
            .max(1e-12);
        let mut edges: Vec<_> = graph
            .edges
            .iter()
            .filter(|e| !(e.pruned && self.pruned == PrunedEdges::Hidden))
            .collect();
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
                if labels {
                    let text = if node.layer == 0 {
                        format!("x{}", node.index)
                    } else if node.layer + 1 == columns {
                        format!("y{}", node.index)
                    } else {
                        format!("h{}.{}", node.layer, node.index)
                    };
                    // Centred under the node on a white ground, so no edge runs through the label.
                    let (x, y) = pos[node.id];
                    let style = TextStyle::from((FAMILY, font_px(12)).into_font()).color(&NODE);
                    let (tw, th) = root
                        .estimate_text_size(&text, &style)
                        .map_or((0, 0), |d| (d.0 as i32, d.1 as i32));
                    let (tx, ty) = (x - tw / 2, y + radius_px + px(3));
                    root.draw(&Rectangle::new(
                        [(tx - px(2), ty - px(1)), (tx + tw + px(2), ty + th + px(1))],
                        WHITE.filled(),
                    ))
                    .map_err(PlotError::draw)?;
                    root.draw(&Text::new(text, (tx, ty), style))
                        .map_err(PlotError::draw)?;
                }
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
