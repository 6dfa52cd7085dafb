//! The charts the pruning workflows need: histories, sweeps, sparsity curves, scatter matrices, weight
//! histograms — and the [`Plot`] trait that gives each result a `.plot()`.

use plotters::prelude::*;
use prunelab::data::Dataset;
use prunelab::nn::Mlp;
use prunelab::study::PruningHistory;
use prunelab::sweep::{SweepResults, SweepTable, ThresholdSweepResult};
use prunelab::train::History;

use crate::chart::{color, font_px, px, render, Chart, FAMILY};
use crate::error::{PlotError, Result};
use crate::line::{draw_mesh, linear_ticks, LineChart, TickedAxis, Ticks};
use crate::network::NetworkPlot;

/// Results that draw themselves with good defaults.
pub trait Plot {
    /// The default chart of this result.
    fn plot(&self) -> Result<Chart>;
}

impl Plot for History {
    /// Loss per epoch (log scale); with validation, the metric per epoch beside it.
    fn plot(&self) -> Result<Chart> {
        let epochs: Vec<f64> = self.epochs().iter().map(|&e| e as f64).collect();
        let loss = LineChart::new("Training loss")
            .x_label("epoch")
            .y_label("loss")
            .log_y(true)
            .line(
                "",
                epochs
                    .iter()
                    .copied()
                    .zip(self.loss.iter().map(|&v| v as f64)),
            );
        match self.metric {
            Some(m) if !self.validation.is_empty() => {
                let val = LineChart::new(format!("Validation {}", m.name()))
                    .x_label("epoch")
                    .y_label(m.name())
                    .line(
                        "",
                        epochs.iter().copied().zip(self.validation.iter().copied()),
                    );
                Chart::grid(
                    &[loss.size(560, 420).draw()?, val.size(560, 420).draw()?],
                    2,
                )
            }
            _ => loss.draw(),
        }
    }
}

/// The two views of a threshold sweep: the metric against the threshold (points, with the chosen cut as a
/// vertical line) and the weights removed against the threshold (with guide lines at the cut).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSweepPlot<'a> {
    /// The sweep.
    pub sweep: &'a ThresholdSweepResult,
    /// The metric bound defining the chosen cut (the largest threshold keeping the metric above it).
    pub bound: Option<f64>,
}

impl<'a> ThresholdSweepPlot<'a> {
    /// A plot of `sweep` with no bound.
    pub fn new(sweep: &'a ThresholdSweepResult) -> Self {
        ThresholdSweepPlot { sweep, bound: None }
    }

    /// Marks the largest threshold keeping the metric above `bound`.
    pub fn bound(mut self, bound: f64) -> Self {
        self.bound = Some(bound);
        self
    }

    /// Draws both panels side by side.
    pub fn draw(&self) -> Result<Chart> {
        let s = self.sweep;
        let t: Vec<f64> = s.thresholds.iter().map(|&t| t as f64).collect();
        let mut metric = LineChart::new(format!("{} against threshold", s.metric_name))
            .x_label("threshold |w|")
            .y_label(&s.metric_name)
            .points("", t.iter().copied().zip(s.metric.iter().copied()))
            .size(560, 420);
        let mut removed = LineChart::new("Weights removed against threshold")
            .x_label("threshold |w|")
            .y_label("weights removed")
            .line(
                "",
                t.iter().copied().zip(s.removed.iter().map(|&r| r as f64)),
            )
            .hline(s.total_weights as f64, format!("all {}", s.total_weights))
            .size(560, 420);
        if let Some(best) = self.bound.and_then(|b| s.best_threshold(b)) {
            let label = format!("t = {:.3}", best.threshold);
            metric = metric
                .vline(best.threshold as f64, &label)
                .hline(self.bound.unwrap_or(0.0), "bound");
            removed = removed
                .vline(best.threshold as f64, &label)
                .hline(best.removed as f64, format!("{} removed", best.removed));
        }
        Chart::grid(&[metric.draw()?, removed.draw()?], 2)
    }
}

impl Plot for ThresholdSweepResult {
    fn plot(&self) -> Result<Chart> {
        ThresholdSweepPlot::new(self).draw()
    }
}

impl Plot for SweepTable {
    /// The metric against sparsity, one line per method.
    fn plot(&self) -> Result<Chart> {
        self.methods()
            .into_iter()
            .fold(
                LineChart::new(format!("{} against sparsity", self.metric_name))
                    .x_label("sparsity")
                    .y_label(&self.metric_name),
                |chart, m| {
                    let pts = self.series(&m);
                    chart.line_points(m, pts)
                },
            )
            .draw()
    }
}

impl Plot for SweepResults {
    /// The metric against sparsity (or threshold), one line per method at the mean over seeds, in a band of
    /// one standard deviation either side.
    fn plot(&self) -> Result<Chart> {
        let n = self.seeds.len();
        let spread = if n > 1 { " (mean ± 1 sd)" } else { "" };
        self.methods()
            .into_iter()
            .fold(
                LineChart::new(format!(
                    "{}: {} over {n} seed{}",
                    self.name,
                    self.metric,
                    if n == 1 { "" } else { "s" }
                ))
                .x_label(&self.x_name)
                .y_label(format!("{}{spread}", self.metric)),
                |chart, m| {
                    let pts: Vec<_> = self
                        .series(&m)
                        .into_iter()
                        .map(|p| (p.x, p.mean, p.lo, p.hi))
                        .collect();
                    chart.line_band(m, pts)
                },
            )
            .draw()
    }
}

impl Plot for PruningHistory {
    /// The metric against the fraction of weights remaining, round by round.
    fn plot(&self) -> Result<Chart> {
        LineChart::new(format!("{} against remaining weights", self.metric.name()))
            .x_label("fraction of weights remaining")
            .y_label(self.metric.name())
            .line_points(
                "",
                self.rounds.iter().map(|r| (r.remaining_fraction, r.metric)),
            )
            .draw()
    }
}

impl Plot for Mlp {
    /// The network graph.
    fn plot(&self) -> Result<Chart> {
        NetworkPlot::new(self).draw()
    }
}

impl Plot for Dataset {
    /// Image data (64 or more features that make a square, as MNIST's 28x28 and digits' 8x8): the first ten
    /// images with their labels ([`ImageGrid`](crate::ImageGrid)); anything else: the scatter matrix.
    fn plot(&self) -> Result<Chart> {
        let n = self.n_features();
        let side = (n as f64).sqrt().round() as usize;
        if n >= 64 && side * side == n {
            crate::ImageGrid::new(self).draw()
        } else {
            ScatterMatrix::new(self).draw()
        }
    }
}

/// Scatter plots of pairs of a dataset's features, coloured by class, in a grid (for iris's four features:
/// four panels, 2×2).
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterMatrix<'a> {
    /// The data.
    pub data: &'a Dataset,
    /// The feature pairs, one panel each.
    pub pairs: Vec<(usize, usize)>,
    /// Panels per row.
    pub columns: usize,
}

impl<'a> ScatterMatrix<'a> {
    /// Default pairs: (0,1), (2,3), (0,2), (1,3) for four or more features, every pair otherwise.
    pub fn new(data: &'a Dataset) -> Self {
        let n = data.n_features();
        let pairs = if n >= 4 {
            vec![(0, 1), (2, 3), (0, 2), (1, 3)]
        } else {
            (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .collect()
        };
        ScatterMatrix {
            data,
            pairs,
            columns: 2,
        }
    }

    /// Sets the feature pairs.
    pub fn pairs(mut self, pairs: &[(usize, usize)]) -> Self {
        self.pairs = pairs.to_vec();
        self
    }

    /// Draws the panels.
    pub fn draw(&self) -> Result<Chart> {
        let d = self.data;
        if self.pairs.is_empty() {
            return Err(PlotError::NoData("no feature pairs"));
        }
        if let Some(&(a, b)) = self
            .pairs
            .iter()
            .find(|&&(a, b)| a.max(b) >= d.n_features())
        {
            return Err(PlotError::Invalid(format!(
                "feature pair ({a}, {b}) out of range"
            )));
        }
        let name = |i: usize| {
            d.feature_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("feature {i}"))
        };
        let labels = d.targets.labels();
        let n_groups = labels.map_or(1, |_| d.n_classes().max(1));
        let panels = self
            .pairs
            .iter()
            .map(|&(a, b)| {
                let mut chart = LineChart::new(format!("{} vs {}", name(b), name(a)))
                    .x_label(name(a))
                    .y_label(name(b))
                    .size(480, 380);
                for g in 0..n_groups {
                    let pts = (0..d.n_samples())
                        .filter(|&i| labels.is_none_or(|l| l[i] == g))
                        .map(|i| (d.records[[i, a]] as f64, d.records[[i, b]] as f64));
                    let group = d
                        .class_names
                        .get(g)
                        .cloned()
                        .unwrap_or_else(|| format!("class {g}"));
                    chart = chart.points(
                        if labels.is_some() {
                            group
                        } else {
                            String::new()
                        },
                        pts,
                    );
                }
                chart.draw()
            })
            .collect::<Result<Vec<_>>>()?;
        Chart::grid(&panels, self.columns)
    }
}

/// A histogram of the magnitudes of a network's kept weights.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightHistogram<'a> {
    /// The network.
    pub model: &'a Mlp,
    /// Number of bins (default 50).
    pub bins: usize,
    /// Log-scaled counts.
    pub log_counts: bool,
}

impl<'a> WeightHistogram<'a> {
    /// A histogram of `model`'s kept |w|.
    pub fn new(model: &'a Mlp) -> Self {
        WeightHistogram {
            model,
            bins: 50,
            log_counts: false,
        }
    }

    /// Sets the number of bins.
    pub fn bins(mut self, bins: usize) -> Self {
        self.bins = bins;
        self
    }

    /// Log-scales the counts (as `log10(1 + count)`).
    pub fn log_counts(mut self, log: bool) -> Self {
        self.log_counts = log;
        self
    }

    /// Draws the histogram.
    pub fn draw(&self) -> Result<Chart> {
        if self.bins == 0 {
            return Err(PlotError::Invalid("bins must be at least 1".into()));
        }
        let mags: Vec<f64> = self
            .model
            .layers()
            .iter()
            .flat_map(|l| {
                let mask = l.mask();
                l.weight()
                    .indexed_iter()
                    .filter(|(i, _)| mask.as_ref().is_none_or(|m| m[*i]))
                    .map(|(_, w)| w.abs() as f64)
                    .collect::<Vec<_>>()
            })
            .collect();
        let max = mags.iter().copied().fold(0.0, f64::max).max(1e-12);
        let width = max / self.bins as f64;
        let mut counts = vec![0usize; self.bins];
        for m in &mags {
            counts[((m / width) as usize).min(self.bins - 1)] += 1;
        }
        let height = |c: usize| {
            if self.log_counts {
                (1.0 + c as f64).log10()
            } else {
                c as f64
            }
        };
        let top = counts
            .iter()
            .map(|&c| height(c))
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.05;
        let log = self.log_counts;
        let title = format!("|w| of {} kept weights", mags.len());
        let xt = linear_ticks(0.0, max, 10);
        // Log counts: ticks at 0, 1, 10, 100, ... (plotted at log10(1 + count)).
        let yt = if log {
            let mut ticks = Ticks {
                at: vec![0.0],
                labels: vec!["0".into()],
            };
            let mut k = 1u64;
            while (1.0 + k as f64).log10() <= top {
                ticks.at.push((1.0 + k as f64).log10());
                ticks.labels.push(k.to_string());
                k = k.saturating_mul(10);
            }
            ticks
        } else {
            linear_ticks(0.0, top, 8)
        };
        render(800, 420, &title, |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(&title, (FAMILY, font_px(22)))
                .margin(px(12))
                .x_label_area_size(px(42))
                .y_label_area_size(px(64))
                .build_cartesian_2d(
                    TickedAxis::new(0.0, max, &xt),
                    TickedAxis::new(0.0, top, &yt),
                )
                .map_err(PlotError::draw)?;
            let y_desc = if log { "count (log scale)" } else { "count" };
            draw_mesh(&mut chart, "|w|", y_desc, &xt, &yt)?;
            chart
                .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                    let x = i as f64 * width;
                    Rectangle::new([(x, 0.0), (x + width * 0.95, height(c))], color(0).filled())
                }))
                .map_err(PlotError::draw)?;
            Ok(())
        })
    }
}
