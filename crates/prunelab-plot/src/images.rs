//! [`ImageGrid`]: samples of an image dataset (MNIST, digits) drawn as grey-scale pictures with their labels.

use plotters::prelude::*;
use prunelab::data::Dataset;

use crate::chart::{font_px, pixel_ratio, px, render, Chart, FAMILY};
use crate::error::{PlotError, Result};

/// Samples of an image dataset side by side, each with its class label underneath, black ink on white as
/// the digits are written. Each row of the records is one square image, row by row (MNIST's 784 pixels are
/// 28x28); values are scaled from the shown samples' own range, so `[0, 1]` and `[-1, 1]` data look alike.
///
/// ```
/// use prunelab_plot::ImageGrid;
///
/// let digits = prunelab::data::digits()?;
/// let chart = ImageGrid::new(&digits).samples(0..10).draw()?;
/// assert!(chart.png().starts_with(b"\x89PNG"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid<'a> {
    /// The data; each record is one square image.
    pub data: &'a Dataset,
    /// The samples shown, in order (default: the first ten).
    pub samples: Vec<usize>,
    /// Images per row (default 10).
    pub columns: usize,
    /// Screen pixels per image pixel (default: so that an image is about 84 pixels wide).
    pub scale: Option<u32>,
    /// Chart title (default none).
    pub title: String,
}

impl<'a> ImageGrid<'a> {
    /// The first ten samples of `data`, ten per row.
    pub fn new(data: &'a Dataset) -> Self {
        ImageGrid {
            data,
            samples: (0..data.n_samples().min(10)).collect(),
            columns: 10,
            scale: None,
            title: String::new(),
        }
    }

    /// Sets the samples shown.
    pub fn samples(mut self, samples: impl IntoIterator<Item = usize>) -> Self {
        self.samples = samples.into_iter().collect();
        self
    }

    /// Sets the number of images per row.
    pub fn columns(mut self, columns: usize) -> Self {
        self.columns = columns;
        self
    }

    /// Sets the screen pixels per image pixel.
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = Some(scale);
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The side of the square images, or an error when the records are not square images.
    fn side(&self) -> Result<usize> {
        let n = self.data.n_features();
        let side = (n as f64).sqrt().round() as usize;
        if side * side != n || side < 2 {
            return Err(PlotError::Invalid(format!(
                "{n} features are not a square image"
            )));
        }
        Ok(side)
    }

    /// Draws the grid.
    pub fn draw(&self) -> Result<Chart> {
        let side = self.side()?;
        if self.samples.is_empty() {
            return Err(PlotError::NoData("no samples to show"));
        }
        if self.columns == 0 {
            return Err(PlotError::Invalid("columns must be at least 1".into()));
        }
        if let Some(&i) = self.samples.iter().find(|&&i| i >= self.data.n_samples()) {
            return Err(PlotError::Invalid(format!(
                "sample {i} out of range ({} samples)",
                self.data.n_samples()
            )));
        }
        let scale = self
            .scale
            .unwrap_or_else(|| (84 / side as u32).clamp(1, 16));
        if scale == 0 || scale > 64 {
            return Err(PlotError::Invalid(format!(
                "scale {scale} is outside 1..=64"
            )));
        }
        let records = &self.data.records;
        let (lo, hi) = self
            .samples
            .iter()
            .flat_map(|&i| records.row(i).to_vec())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        let labels = self.data.targets.labels();
        let name = |i: usize| -> String {
            labels.map_or_else(String::new, |l| {
                self.data
                    .class_names
                    .get(l[i])
                    .cloned()
                    .unwrap_or_else(|| l[i].to_string())
            })
        };
        let img = side as u32 * scale;
        let (gap, label_h) = (12u32, if labels.is_some() { 22 } else { 0 });
        let title_h = if self.title.is_empty() { 0 } else { 34 };
        let cols = self.columns.min(self.samples.len()) as u32;
        let rows = self.samples.len().div_ceil(self.columns) as u32;
        let width = gap + cols * (img + gap);
        let height = title_h + gap + rows * (img + label_h + gap);
        render(width.max(16), height.max(16), &self.title, |root| {
            if !self.title.is_empty() {
                root.draw(&Text::new(
                    self.title.as_str(),
                    (px(gap as i32), px(8)),
                    (FAMILY, font_px(20)).into_font(),
                ))
                .map_err(PlotError::draw)?;
            }
            for (k, &i) in self.samples.iter().enumerate() {
                let (cx, cy) = (k as u32 % cols, k as u32 / cols);
                let x0 = px((gap + cx * (img + gap)) as i32);
                let y0 = px((title_h + gap + cy * (img + label_h + gap)) as i32);
                for (p, &v) in records.row(i).iter().enumerate() {
                    let ink = ((v - lo) / span).clamp(0.0, 1.0);
                    let grey = (255.0 * (1.0 - ink)).round() as u8;
                    if grey == 255 {
                        continue;
                    }
                    let (px, py) = ((p % side) as i32, (p / side) as i32);
                    let s = (scale * pixel_ratio()) as i32;
                    root.draw(&Rectangle::new(
                        [
                            (x0 + px * s, y0 + py * s),
                            (x0 + (px + 1) * s, y0 + (py + 1) * s),
                        ],
                        RGBColor(grey, grey, grey).filled(),
                    ))
                    .map_err(PlotError::draw)?;
                }
                root.draw(&Rectangle::new(
                    [
                        (x0 - px(1), y0 - px(1)),
                        (x0 + px(img as i32), y0 + px(img as i32)),
                    ],
                    RGBColor(200, 200, 200),
                ))
                .map_err(PlotError::draw)?;
                if labels.is_some() {
                    let style = TextStyle::from((FAMILY, font_px(15)).into_font()).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Top,
                        ),
                    );
                    root.draw(&Text::new(
                        name(i),
                        (x0 + px(img as i32 / 2), y0 + px(img as i32 + 4)),
                        style,
                    ))
                    .map_err(PlotError::draw)?;
                }
            }
            Ok(())
        })
    }
}
