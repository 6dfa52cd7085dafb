//! Line and scatter charts with several series, a legend, optional log y axis and guide lines.

use plotters::prelude::*;

use crate::chart::{color, font_px, px, render, Chart, FAMILY};
use crate::error::{PlotError, Result};

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A polyline.
    Line,
    /// A marker per point.
    Points,
    /// A polyline with a marker per point.
    LinePoints,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub mark: Mark,
    /// A shaded band `(x, low, high)` drawn under the series in its colour (e.g. ±1 standard deviation over
    /// seeds); empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

/// A line/scatter chart: several series with a legend, axis labels, optional log-scaled y axis and
/// labelled vertical or horizontal guide lines.
///
/// ```
/// use prunelab_plot::LineChart;
///
/// let chart = LineChart::new("Training loss")
///     .x_label("epoch")
///     .y_label("loss")
///     .log_y(true)
///     .values("original", &[1.0, 0.3, 0.1, 0.05])
///     .values("pruned", &[0.8, 0.4, 0.2, 0.1])
///     .draw()?;
/// assert_eq!(chart.size(), (800, 480));
/// # Ok::<(), prunelab_plot::PlotError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// Log-scaled y axis (non-positive values are left out).
    pub log_y: bool,
    /// Vertical guide lines `(x, label)`.
    pub vlines: Vec<(f64, String)>,
    /// Horizontal guide lines `(y, label)`.
    pub hlines: Vec<(f64, String)>,
    /// Width in pixels (default 800).
    pub width: u32,
    /// Height in pixels (default 480).
    pub height: u32,
}

impl LineChart {
    /// An empty chart with a title.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            log_y: false,
            vlines: Vec::new(),
            hlines: Vec::new(),
            width: 800,
            height: 480,
        }
    }

    /// Sets the x-axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y-axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Log-scales the y axis.
    pub fn log_y(mut self, log: bool) -> Self {
        self.log_y = log;
        self
    }

    /// Sets the size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Adds a series drawn as a line.
    pub fn line(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.add(name, points, Mark::Line)
    }

    /// Adds a series drawn as markers.
    pub fn points(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.add(name, points, Mark::Points)
    }

    /// Adds a series drawn as a line with markers.
    pub fn line_points(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.add(name, points, Mark::LinePoints)
    }

    /// Adds a line of `values` at x = 1, 2, 3, … (e.g. a loss per epoch).
    pub fn values(self, name: impl Into<String>, values: &[f32]) -> Self {
        self.line(
            name,
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| ((i + 1) as f64, v as f64)),
        )
    }

    /// Adds a series with an explicit mark.
    pub fn add(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
        mark: Mark,
    ) -> Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
            mark,
            band: Vec::new(),
        });
        self
    }

    /// Adds a line with markers through `(x, y)` and a shaded band from `low` to `high` around it, from
    /// points `(x, y, low, high)`: a mean and its spread over seeds.
    ///
    /// ```
    /// use prunelab_plot::LineChart;
    ///
    /// let chart = LineChart::new("Accuracy over 4 seeds")
    ///     .x_label("sparsity")
    ///     .y_label("accuracy (mean ± 1 sd)")
    ///     .line_band("weights", [(0.0, 0.97, 0.96, 0.98), (0.5, 0.95, 0.93, 0.97), (0.9, 0.80, 0.72, 0.88)])
    ///     .draw()?;
    /// assert_eq!(chart.size(), (800, 480));
    /// # Ok::<(), prunelab_plot::PlotError>(())
    /// ```
    pub fn line_band(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64, f64, f64)>,
    ) -> Self {
        let points: Vec<(f64, f64, f64, f64)> = points.into_iter().collect();
        self.series.push(Series {
            name: name.into(),
            points: points.iter().map(|p| (p.0, p.1)).collect(),
            mark: Mark::LinePoints,
            band: points
                .iter()
                .map(|p| (p.0, p.2.min(p.3), p.2.max(p.3)))
                .collect(),
        });
        self
    }

    /// Adds a labelled vertical guide line.
    pub fn vline(mut self, x: f64, label: impl Into<String>) -> Self {
        self.vlines.push((x, label.into()));
        self
    }

    /// Adds a labelled horizontal guide line.
    pub fn hline(mut self, y: f64, label: impl Into<String>) -> Self {
        self.hlines.push((y, label.into()));
        self
    }

    /// The y value as plotted (log10 on a log axis; `None` when it cannot be plotted).
    fn ty(&self, y: f64) -> Option<f64> {
        match (self.log_y, y.is_finite()) {
            (_, false) => None,
            (true, _) if y <= 0.0 => None,
            (true, _) => Some(y.log10()),
            (false, _) => Some(y),
        }
    }

    /// Draws the chart.
    pub fn draw(&self) -> Result<Chart> {
        render(self.width, self.height, &self.title, |root| {
            self.draw_on(root)
        })
    }

    /// Draws onto an existing area (used by composite charts).
    pub(crate) fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<()> {
        let series: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .filter(|p| p.0.is_finite())
                    .filter_map(|&(x, y)| self.ty(y).map(|y| (x, y)))
                    .collect()
            })
            .collect();
        // Bands as plotted: (x, low, high), points that cannot be plotted left out.
        let bands: Vec<Vec<(f64, f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.band
                    .iter()
                    .filter(|p| p.0.is_finite())
                    .filter_map(|&(x, lo, hi)| Some((x, self.ty(lo)?, self.ty(hi)?)))
                    .collect()
            })
            .collect();
        let xs = series
            .iter()
            .flatten()
            .map(|p| p.0)
            .chain(bands.iter().flatten().map(|b| b.0))
            .chain(self.vlines.iter().map(|v| v.0));
        let ys = series
            .iter()
            .flatten()
            .map(|p| p.1)
            .chain(bands.iter().flatten().flat_map(|b| [b.1, b.2]))
            .chain(self.hlines.iter().filter_map(|h| self.ty(h.0)));
        let (x0, x1) = span(xs).ok_or(PlotError::NoData("no finite points"))?;
        let (y0, y1) = span(ys).ok_or(PlotError::NoData("no finite points"))?;
        let log = self.log_y;
        let xt = linear_ticks(x0, x1, 10);
        let yt = if log {
            log_ticks(y0, y1)
        } else {
            linear_ticks(y0, y1, 8)
        };
        // The legend: inside, in the corner with the least data under it, or beside the plot when every
        // corner would cover data.
        let entries: Vec<(usize, &Series)> = self
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .collect();
        let font = TextStyle::from((FAMILY, font_px(14)).into_font());
        let text_w = entries
            .iter()
            .map(|(_, s)| root.estimate_text_size(&s.name, &font).map_or(0, |d| d.0))
            .max()
            .unwrap_or(0) as i32;
        let (legend_w, legend_h) = (text_w + px(44), entries.len() as i32 * px(20) + px(10));
        let (width, height) = root.dim_in_pixel();
        let (left, top) = (px(12 + 64), px(12 + 38));
        let (right, bottom) = (width as i32 - px(12), height as i32 - px(12 + 42));
        let to_px = |x: f64, y: f64| {
            (
                left as f64 + (x - x0) / (x1 - x0) * (right - left) as f64,
                bottom as f64 - (y - y0) / (y1 - y0) * (bottom - top) as f64,
            )
        };
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for (s, pts) in self.series.iter().zip(&series) {
            samples.extend(pts.iter().map(|&(x, y)| to_px(x, y)));
            if s.mark != Mark::Points {
                for w in pts.windows(2) {
                    let (a, b) = (to_px(w[0].0, w[0].1), to_px(w[1].0, w[1].1));
                    let n = ((b.0 - a.0).hypot(b.1 - a.1) / px(4) as f64)
                        .ceil()
                        .clamp(1.0, 400.0) as usize;
                    samples.extend((1..n).map(|k| {
                        let t = k as f64 / n as f64;
                        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
                    }));
                }
            }
        }
        // Bands count as data: their area, sampled every 4 px.
        for band in &bands {
            for w in band.windows(2) {
                let (a_lo, a_hi) = (to_px(w[0].0, w[0].1), to_px(w[0].0, w[0].2));
                let (b_lo, b_hi) = (to_px(w[1].0, w[1].1), to_px(w[1].0, w[1].2));
                let n = ((b_lo.0 - a_lo.0).abs() / px(4) as f64)
                    .ceil()
                    .clamp(1.0, 400.0) as usize;
                for k in 0..=n {
                    let t = k as f64 / n as f64;
                    let x = a_lo.0 + t * (b_lo.0 - a_lo.0);
                    let (y_lo, y_hi) = (
                        a_lo.1 + t * (b_lo.1 - a_lo.1),
                        a_hi.1 + t * (b_hi.1 - a_hi.1),
                    );
                    let m = ((y_lo - y_hi).abs() / px(4) as f64)
                        .ceil()
                        .clamp(1.0, 400.0) as usize;
                    samples
                        .extend((0..=m).map(|j| (x, y_hi + j as f64 / m as f64 * (y_lo - y_hi))));
                }
            }
        }
        // Guide lines and their labels count as data: the legend must not hide them either.
        for (x, _) in &self.vlines {
            let (gx, _) = to_px(*x, y0);
            samples.extend(
                (top..bottom)
                    .step_by(px(4) as usize)
                    .map(|y| (gx, y as f64)),
            );
            samples.extend(
                (0..60)
                    .step_by(4)
                    .map(|d| (gx + px(d) as f64, (top + px(8)) as f64)),
            );
        }
        for (y, _) in &self.hlines {
            if let Some(ty) = self.ty(*y) {
                let (_, gy) = to_px(x0, ty);
                samples.extend(
                    (left..right)
                        .step_by(px(4) as usize)
                        .map(|x| (x as f64, gy)),
                );
                samples.extend((0..12).map(|d| ((right - px(40)) as f64, gy - px(d) as f64)));
            }
        }
        let boxes = |l: i32, t: i32, r: i32, b: i32| {
            [
                (r - legend_w - px(8), t + px(8)),
                (l + px(8), t + px(8)),
                (r - legend_w - px(8), b - legend_h - px(8)),
                (l + px(8), b - legend_h - px(8)),
            ]
        };
        let covered = |(bx, by): (i32, i32)| {
            samples
                .iter()
                .filter(|&&(x, y)| {
                    x >= (bx - px(6)) as f64
                        && x <= (bx + legend_w + px(6)) as f64
                        && y >= (by - px(6)) as f64
                        && y <= (by + legend_h + px(6)) as f64
                })
                .count()
        };
        let best = boxes(left, top, right, bottom)
            .into_iter()
            .enumerate()
            .min_by_key(|&(k, b)| (covered(b), k))
            .map(|(k, b)| (k, covered(b)));
        let outside = !entries.is_empty() && best.is_some_and(|(_, n)| n > 0);
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, (FAMILY, font_px(22)))
            .margin(px(12))
            .x_label_area_size(px(42))
            .y_label_area_size(px(64));
        if outside {
            builder.margin_right(px(12) + legend_w + px(12));
        }
        let mut chart = builder
            .build_cartesian_2d(TickedAxis::new(x0, x1, &xt), TickedAxis::new(y0, y1, &yt))
            .map_err(PlotError::draw)?;
        let y_desc = if log && !self.y_label.is_empty() {
            format!("{} (log scale)", self.y_label)
        } else if log {
            "log scale".to_string()
        } else {
            self.y_label.clone()
        };
        draw_mesh(&mut chart, &self.x_label, &y_desc, &xt, &yt)?;
        // Bands first, under every line.
        for (i, band) in bands.iter().enumerate() {
            if band.len() >= 2 {
                let outline: Vec<(f64, f64)> = band
                    .iter()
                    .map(|b| (b.0, b.2))
                    .chain(band.iter().rev().map(|b| (b.0, b.1)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        color(i).mix(0.18).filled(),
                    )))
                    .map_err(PlotError::draw)?;
            }
        }
        for (i, (s, pts)) in self.series.iter().zip(&series).enumerate() {
            let c = color(i);
            if matches!(s.mark, Mark::Line | Mark::LinePoints) {
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().copied(),
                        c.stroke_width(px(2) as u32),
                    ))
                    .map_err(PlotError::draw)?;
            }
            if matches!(s.mark, Mark::Points | Mark::LinePoints) {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, px(3), c.filled())))
                    .map_err(PlotError::draw)?;
            }
        }
        // Guide lines, labelled inside the plot next to the line, on a white ground, never on an axis.
        let guide = RGBColor(90, 90, 90);
        let base = root.get_base_pixel();
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let (pl, pr, pt, pb) = (
            xr.start - base.0,
            xr.end - base.0,
            yr.start - base.1,
            yr.end - base.1,
        );
        let guide_font = (FAMILY, font_px(13)).into_font().color(&guide);
        let mut labels: Vec<(i32, i32, String)> = Vec::new();
        for (x, label) in &self.vlines {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(*x, y0), (*x, y1)],
                    px(6) as u32,
                    px(4) as u32,
                    guide.stroke_width(px(1) as u32),
                ))
                .map_err(PlotError::draw)?;
            let (lx, _) = chart.backend_coord(&(*x, y1));
            let w = root
                .estimate_text_size(label, &guide_font)
                .map_or(0, |d| d.0) as i32;
            let lx = lx - base.0;
            let at = if lx + px(5) + w <= pr - px(4) {
                lx + 5
            } else {
                lx - 5 - w
            };
            labels.push((at, pt + px(6), label.clone()));
        }
        for (y, label) in &self.hlines {
            if let Some(ty) = self.ty(*y) {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, ty), (x1, ty)],
                        px(6) as u32,
                        px(4) as u32,
                        guide.stroke_width(px(1) as u32),
                    ))
                    .map_err(PlotError::draw)?;
                let (_, ly) = chart.backend_coord(&(x1, ty));
                let (w, h) = root
                    .estimate_text_size(label, &guide_font)
                    .map_or((0, 0), |d| (d.0 as i32, d.1 as i32));
                let ly = ly - base.1;
                let at = if ly - h - px(4) >= pt {
                    ly - h - px(4)
                } else {
                    ly + px(4)
                };
                labels.push((pr - px(6) - w, at, label.clone()));
            }
        }
        // Labels that would overlap an earlier one move down a line.
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        for (x, mut y, label) in labels {
            let (w, h) = root
                .estimate_text_size(&label, &guide_font)
                .map_or((0, 0), |d| (d.0 as i32, d.1 as i32));
            while placed
                .iter()
                .any(|&(a, b, c, d)| x < c && x + w > a && y < d && y + h > b)
                && y + 2 * h < pb
            {
                y += h + px(3);
            }
            placed.push((x, y, x + w, y + h));
            root.draw(&Rectangle::new(
                [(x - px(2), y - px(1)), (x + w + px(2), y + h + px(1))],
                WHITE.mix(0.85).filled(),
            ))
            .map_err(PlotError::draw)?;
            root.draw(&Text::new(label, (x, y), guide_font.clone()))
                .map_err(PlotError::draw)?;
        }
        if !entries.is_empty() {
            let (lx, ly) = if outside {
                (pr + px(12), pt)
            } else {
                boxes(pl, pt, pr, pb)[best.map_or(0, |b| b.0)]
            };
            root.draw(&Rectangle::new(
                [(lx, ly), (lx + legend_w, ly + legend_h)],
                WHITE.mix(0.9).filled(),
            ))
            .map_err(PlotError::draw)?;
            root.draw(&Rectangle::new(
                [(lx, ly), (lx + legend_w, ly + legend_h)],
                RGBColor(200, 200, 200),
            ))
            .map_err(PlotError::draw)?;
            for (row, (i, s)) in entries.iter().enumerate() {
                let c = color(*i);
                let y = ly + px(15) + row as i32 * px(20);
                if !s.band.is_empty() {
                    root.draw(&Rectangle::new(
                        [(lx + px(8), y - px(6)), (lx + px(30), y + px(6))],
                        c.mix(0.18).filled(),
                    ))
                    .map_err(PlotError::draw)?;
                }
                if s.mark != Mark::Points {
                    root.draw(&PathElement::new(
                        vec![(lx + px(8), y), (lx + px(30), y)],
                        c.stroke_width(px(3) as u32),
                    ))
                    .map_err(PlotError::draw)?;
                }
                if s.mark != Mark::Line {
                    root.draw(&Circle::new((lx + px(19), y), px(3), c.filled()))
                        .map_err(PlotError::draw)?;
                }
                root.draw(&Text::new(
                    s.name.clone(),
                    (lx + px(36), y - px(8)),
                    font.clone(),
                ))
                .map_err(PlotError::draw)?;
            }
        }
        Ok(())
    }
}

/// The min and max of finite values, widened by 5% (or by 1 when they coincide).
pub(crate) fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        return Some((lo - 1.0, hi + 1.0));
    }
    let pad = 0.05 * (hi - lo);
    Some((lo - pad, hi + pad))
}

/// A linear f64 axis whose tick marks are exactly the given [`Ticks`] (plotters' own choice of ticks is
/// replaced, so every label has the same precision).
#[derive(Debug, Clone)]
pub(crate) struct TickedAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    pub(crate) fn new(lo: f64, hi: f64, ticks: &Ticks) -> Self {
        TickedAxis {
            lo,
            hi,
            ticks: ticks.at.clone(),
        }
    }
}

impl plotters::coord::ranged1d::Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Axis ticks: positions (in plotted units) and their labels, all with the same, minimal precision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    /// Where the ticks are.
    pub at: Vec<f64>,
    /// Their labels.
    pub labels: Vec<String>,
}

/// The axes, tick labels and grid every chart shares: `xt`/`yt` label the ticks, light grey lines at them.
pub(crate) fn draw_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<TickedAxis, TickedAxis>>,
    x_desc: &str,
    y_desc: &str,
    xt: &Ticks,
    yt: &Ticks,
) -> Result<()> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FAMILY, font_px(13)))
        .axis_desc_style((FAMILY, font_px(15)))
        .x_label_formatter(&|v| xt.label(*v))
        .y_label_formatter(&|v| yt.label(*v))
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(PlotError::draw)
}

impl Ticks {
    /// The label of the tick at `v` (empty for a position that is not a tick).
    pub(crate) fn label(&self, v: f64) -> String {
        self.at
            .iter()
            .position(|&t| (t - v).abs() <= 1e-9 * (1.0 + t.abs()))
            .map(|i| self.labels[i].clone())
            .unwrap_or_default()
    }
}

/// Ticks for a linear axis over `[lo, hi]`: a 1-2-5 step giving at most `max` ticks, labelled with as many
/// decimals as the step needs ("0.2", "0.4", not "0.200"; "4.5" beside "5.0").
pub(crate) fn linear_ticks(lo: f64, hi: f64, max: usize) -> Ticks {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / max.max(2) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= max as f64)
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let at: Vec<f64> = (first..=last).map(|k| k as f64 * step).collect();
    let labels = at
        .iter()
        .map(|&v| {
            let a = v.abs();
            if a != 0.0 && !(1e-4..1e6).contains(&a) {
                format!("{v:.0e}")
            } else {
                // `-0.0` prints as "0".
                format!("{:.*}", decimals, if v == 0.0 { 0.0 } else { v })
            }
        })
        .collect();
    Ticks { at, labels }
}

/// Ticks for a log axis plotted as `log10(y)` over `[lo, hi]` (in log10 units): decades when the range
/// spans more than about three of them, else 1-2-5 within each decade; each label the plain number
/// ("0.05", "0.1", "1", "20").
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Ticks {
    let decades = hi - lo;
    let mults: &[f64] = if decades > 3.5 {
        &[1.0]
    } else if decades > 0.8 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let step = if decades > 8.0 { 2 } else { 1 };
    let mut at = Vec::new();
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    for e in (first..=last).step_by(step) {
        for m in mults {
            let t = (m * 10f64.powi(e as i32)).log10();
            if t >= lo - 1e-9 && t <= hi + 1e-9 {
                at.push(t);
            }
        }
    }
    let labels = at
        .iter()
        .map(|&t| {
            let v = 10f64.powf(t);
            let a = v.abs();
            if !(1e-4..1e6).contains(&a) {
                format!("{v:.0e}")
            } else {
                // The shortest decimal that reads back as this 1-2-5 value.
                let mut s = format!("{v:.6}");
                if s.contains('.') {
                    s = s.trim_end_matches('0').trim_end_matches('.').to_string();
                }
                s
            }
        })
        .collect();
    Ticks { at, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_share_one_minimal_precision() {
        let t = linear_ticks(-0.05, 1.05, 10);
        assert_eq!(t.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let t = linear_ticks(4.2, 7.1, 8);
        assert_eq!(t.labels, ["4.5", "5.0", "5.5", "6.0", "6.5", "7.0"]);
        let t = linear_ticks(-45.0, 945.0, 8);
        assert_eq!(t.labels, ["0", "200", "400", "600", "800"]);
        let t = linear_ticks(0.0, 0.47, 10);
        assert_eq!(t.labels[..3], ["0.00", "0.05", "0.10"]);
        assert!(linear_ticks(-1.0, 1.0, 8)
            .labels
            .contains(&"0.0".to_string()));
    }

    #[test]
    fn log_ticks_are_decades_or_one_two_five() {
        let t = log_ticks(0.05f64.log10(), 1.0f64.log10());
        assert_eq!(t.labels, ["0.05", "0.1", "0.2", "0.5", "1"]);
        let t = log_ticks(-6.0, 0.0);
        assert_eq!(
            t.labels,
            ["1e-6", "1e-5", "0.0001", "0.001", "0.01", "0.1", "1"]
        );
        let t = log_ticks(0.2f64.log10(), 0.9f64.log10());
        assert_eq!(
            t.labels,
            ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
        );
    }
}
