//! Line and scatter charts with several series, a legend, optional log y axis and guide lines.

use plotters::prelude::*;

use crate::chart::{color, render, Chart, FAMILY};
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
        render(self.width, self.height, |root| self.draw_on(root))
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
        let xs = series
            .iter()
            .flatten()
            .map(|p| p.0)
            .chain(self.vlines.iter().map(|v| v.0));
        let ys = series
            .iter()
            .flatten()
            .map(|p| p.1)
            .chain(self.hlines.iter().filter_map(|h| self.ty(h.0)));
        let (x0, x1) = span(xs).ok_or(PlotError::NoData("no finite points"))?;
        let (y0, y1) = span(ys).ok_or(PlotError::NoData("no finite points"))?;
        let log = self.log_y;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(PlotError::draw)?;
        let y_fmt = move |v: &f64| {
            if log {
                format_number(10f64.powf(*v))
            } else {
                format_number(*v)
            }
        };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&y_fmt)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(PlotError::draw)?;
        for (i, (s, pts)) in self.series.iter().zip(&series).enumerate() {
            let c = color(i);
            let legend = |anno: &mut plotters::chart::SeriesAnno<'_, DB>| {
                anno.label(&s.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
            };
            if matches!(s.mark, Mark::Line | Mark::LinePoints) {
                let anno = chart
                    .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                    .map_err(PlotError::draw)?;
                legend(anno);
            }
            if matches!(s.mark, Mark::Points | Mark::LinePoints) {
                let anno = chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(PlotError::draw)?;
                if s.mark == Mark::Points {
                    legend(anno);
                }
            }
        }
        let guide = RGBColor(90, 90, 90);
        for (x, label) in &self.vlines {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(*x, y0), (*x, y1)],
                    6,
                    4,
                    guide.stroke_width(1),
                ))
                .map_err(PlotError::draw)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*x, y1),
                    (FAMILY, 13).into_font().color(&guide),
                )))
                .map_err(PlotError::draw)?;
        }
        for (y, label) in &self.hlines {
            if let Some(ty) = self.ty(*y) {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, ty), (x1, ty)],
                        6,
                        4,
                        guide.stroke_width(1),
                    ))
                    .map_err(PlotError::draw)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        label.clone(),
                        (x0, ty),
                        (FAMILY, 13).into_font().color(&guide),
                    )))
                    .map_err(PlotError::draw)?;
            }
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font((FAMILY, 14))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(PlotError::draw)?;
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

/// A short label for an axis value.
pub(crate) fn format_number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
