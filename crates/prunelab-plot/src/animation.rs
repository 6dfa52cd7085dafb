//! Animated GIFs: [`Animation`] (frames of charts, shown inline in evcxr as `image/gif`) and
//! [`PruningAnimation`] (a network pruned step by step, its edges going faint, with a metric per frame).

use std::path::Path;

use base64::Engine as _;
use prunelab::nn::Mlp;
use prunelab::prune::ThresholdPruning;

use crate::chart::Chart;
use crate::error::{PlotError, Result};
use crate::network::{NetworkPlot, PrunedEdges};

/// The most frames an animation may have (each is a full image in memory while it is encoded).
pub const MAX_FRAMES: usize = 200;

/// An animated GIF made of charts of one size. In an evcxr notebook an `Animation` at the end of a cell
/// shows itself inline (`image/gif`); `prunelab render` writes it as a `.gif` file.
///
/// ```
/// use prunelab_plot::{Animation, LineChart};
///
/// let frames = (1..=3)
///     .map(|k| LineChart::new(format!("frame {k}")).values("x", &[1.0, k as f32]).draw())
///     .collect::<Result<Vec<_>, _>>()?;
/// let gif = Animation::from_charts(&frames, 500)?;
/// assert!(gif.gif().starts_with(b"GIF89a"));
/// # Ok::<(), prunelab_plot::PlotError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Animation {
    width: u32,
    height: u32,
    frames: usize,
    gif: Vec<u8>,
    /// The last frame, shown by converters that cannot show a GIF.
    last: Chart,
    /// What the frames show, from the first frame's title to the last's.
    description: String,
}

impl std::fmt::Debug for Animation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Animation({}x{}, {} frames, {} GIF bytes)",
            self.width,
            self.height,
            self.frames,
            self.gif.len()
        )
    }
}

impl Animation {
    /// Encodes `frames` (all the same size) as a looping GIF showing each for `delay_ms` milliseconds (the
    /// last one three times as long).
    pub fn from_charts(frames: &[Chart], delay_ms: u32) -> Result<Animation> {
        let first = frames
            .first()
            .ok_or(PlotError::NoData("animation of no frames"))?;
        if frames.len() > MAX_FRAMES {
            return Err(PlotError::Invalid(format!(
                "{} frames, at most {MAX_FRAMES}",
                frames.len()
            )));
        }
        let (w, h) = first.size();
        if let Some(other) = frames.iter().find(|c| c.size() != (w, h)) {
            return Err(PlotError::Invalid(format!(
                "frames differ in size: {w}x{h} and {}x{}",
                other.size().0,
                other.size().1
            )));
        }
        let (gw, gh) = (
            u16::try_from(w)
                .map_err(|_| PlotError::Invalid(format!("width {w} too large for a GIF")))?,
            u16::try_from(h)
                .map_err(|_| PlotError::Invalid(format!("height {h} too large for a GIF")))?,
        );
        let centis = (delay_ms / 10).clamp(2, 6000) as u16;
        let mut out = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut out, gw, gh, &[])
                .map_err(|e| PlotError::Encode(e.to_string()))?;
            encoder
                .set_repeat(gif::Repeat::Infinite)
                .map_err(|e| PlotError::Encode(e.to_string()))?;
            for (k, chart) in frames.iter().enumerate() {
                let mut frame = gif::Frame::from_rgb_speed(gw, gh, chart.rgb(), 10);
                frame.delay = if k + 1 == frames.len() {
                    centis.saturating_mul(3)
                } else {
                    centis
                };
                encoder
                    .write_frame(&frame)
                    .map_err(|e| PlotError::Encode(e.to_string()))?;
            }
        }
        let last = frames[frames.len() - 1].clone();
        let description = if frames.len() == 1 {
            format!("Animation of 1 frame: {}", first.title())
        } else {
            format!(
                "Animation of {} frames, from \u{201c}{}\u{201d} to \u{201c}{}\u{201d}",
                frames.len(),
                first.title(),
                last.title()
            )
        };
        Ok(Animation {
            width: w,
            height: h,
            frames: frames.len(),
            gif: out,
            last,
            description,
        })
    }

    /// The GIF file's bytes.
    pub fn gif(&self) -> &[u8] {
        &self.gif
    }

    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.frames
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Writes the GIF to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, &self.gif).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The last frame as a chart (what converters that cannot show a GIF show).
    pub fn last_frame(&self) -> &Chart {
        &self.last
    }

    /// What the animation shows, for alt text: its frame count and its first and last frames' titles.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The blocks evcxr reads from a cell's output: the `image/gif`, the last frame as `image/png` (both
    /// with [`description`](Self::description) as alt text in the output's metadata), the GIF as
    /// `text/html` (an `<img>` with `alt`, which JupyterLab and nbconvert's HTML show animated) and the
    /// description as `text/plain`.
    pub fn evcxr_block(&self) -> String {
        let gif = base64::engine::general_purpose::STANDARD.encode(&self.gif);
        let png = self.last.to_base64();
        crate::output::image_blocks(
            &[
                crate::output::Image {
                    mime: "image/gif",
                    base64: &gif,
                },
                crate::output::Image {
                    mime: "image/png",
                    base64: &png,
                },
            ],
            &self.description,
            "animation",
        )
    }

    /// Shows the animation inline in evcxr (an animated `image/gif` output, with the fallbacks of
    /// [`evcxr_block`](Self::evcxr_block)).
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_block());
    }
}

/// A network pruned step by step, one frame per step: the graph with the pruned edges faint, titled with
/// the step, the connections left and, when given, a metric.
///
/// ```
/// use prunelab::prelude::*;
/// use prunelab_plot::PruningAnimation;
///
/// let data = data::iris_binary();
/// let model = Mlp::config(&[4, 5, 1]).output_activation(Activation::Sigmoid).seed(0).build()?;
/// let gif = PruningAnimation::thresholds(&model, &[0.0, 0.2, 0.4])?
///     .metric("AP", |m| Metric::AveragePrecision.evaluate(m, &data))
///     .draw()?;
/// assert_eq!(gif.n_frames(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PruningAnimation<'a> {
    /// Each frame's label and network.
    pub steps: Vec<(String, Mlp)>,
    /// The metric's name and how to compute it on a frame's network.
    #[allow(clippy::type_complexity)]
    pub metric: Option<(String, Box<dyn Fn(&Mlp) -> prunelab::Result<f64> + 'a>)>,
    /// Milliseconds per frame (default 700).
    pub delay_ms: u32,
    /// Frame size in pixels (default 560 x 450).
    pub size: (u32, u32),
}

impl<'a> PruningAnimation<'a> {
    /// Frames from networks given with their labels (e.g. the rounds of a schedule).
    pub fn models(steps: Vec<(String, Mlp)>) -> Self {
        PruningAnimation {
            steps,
            metric: None,
            delay_ms: 700,
            size: (560, 450),
        }
    }

    /// One frame per threshold: a copy of `model` with every weight `|w| < t` pruned.
    pub fn thresholds(model: &Mlp, thresholds: &[f32]) -> Result<Self> {
        if thresholds.len() > MAX_FRAMES {
            return Err(PlotError::Invalid(format!(
                "{} thresholds, at most {MAX_FRAMES} frames",
                thresholds.len()
            )));
        }
        let steps = thresholds
            .iter()
            .zip(threshold_labels(thresholds))
            .map(|(&t, label)| {
                let mut m = model.clone();
                ThresholdPruning::new(t).apply(&mut m)?;
                Ok((format!("t = {label}"), m))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::models(steps))
    }

    /// Shows `name` computed by `f` on each frame's network.
    pub fn metric(
        mut self,
        name: impl Into<String>,
        f: impl Fn(&Mlp) -> prunelab::Result<f64> + 'a,
    ) -> Self {
        self.metric = Some((name.into(), Box::new(f)));
        self
    }

    /// Sets the milliseconds per frame.
    pub fn delay_ms(mut self, delay_ms: u32) -> Self {
        self.delay_ms = delay_ms;
        self
    }

    /// Draws the frames and encodes the GIF.
    pub fn draw(&self) -> Result<Animation> {
        let frames = self
            .steps
            .iter()
            .map(|(label, m)| {
                let report = m.prune_report();
                let mut title = format!(
                    "{label}: {} of {} connections",
                    report.remaining, report.weights
                );
                if let Some((name, f)) = &self.metric {
                    title.push_str(&format!(", {name} {:.3}", f(m)?));
                }
                NetworkPlot::new(m)
                    .title(title)
                    .pruned(PrunedEdges::Faint)
                    .size(self.size.0, self.size.1)
                    .draw()
            })
            .collect::<Result<Vec<_>>>()?;
        Animation::from_charts(&frames, self.delay_ms)
    }
}

/// The thresholds as captions show them: with the fewest decimals (at most 7) that keep distinct thresholds
/// apart and put each within a twentieth of the smallest gap between them (a single threshold: three
/// significant digits), so `0.24681084` in steps of about 0.012 reads `0.247`.
fn threshold_labels(thresholds: &[f32]) -> Vec<String> {
    let mut sorted: Vec<f64> = thresholds
        .iter()
        .map(|&t| f64::from(t))
        .filter(|t| t.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let min_gap = sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let tolerance = if min_gap.is_finite() {
        min_gap / 20.0
    } else {
        // One distinct value: three significant digits.
        sorted.first().map_or(0.0, |t| t.abs() * 5e-3)
    };
    let decimals = (0..=7usize)
        .find(|&d| {
            let scale = 10f64.powi(d as i32);
            let rounded: Vec<f64> = sorted.iter().map(|t| (t * scale).round() / scale).collect();
            rounded.windows(2).all(|w| w[0] != w[1])
                && sorted
                    .iter()
                    .zip(&rounded)
                    .all(|(t, r)| (t - r).abs() <= tolerance)
        })
        .unwrap_or(7);
    thresholds
        .iter()
        .map(|&t| format!("{:.*}", decimals, f64::from(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::threshold_labels;

    #[test]
    fn threshold_captions_show_the_decimals_that_tell_frames_apart() {
        let steps: Vec<f32> = (0..11).map(|k| k as f32 * 0.05).collect();
        assert_eq!(threshold_labels(&steps)[..3], ["0.00", "0.05", "0.10"]);
        let fine: Vec<f32> = (0..5).map(|k| 0.2221 + k as f32 * 0.01234).collect();
        assert_eq!(threshold_labels(&fine)[2], "0.247");
        assert_eq!(threshold_labels(&[0.24681084]), ["0.247"]);
        assert_eq!(threshold_labels(&[0.0, 1.0, 2.0]), ["0", "1", "2"]);
        // Close thresholds stay distinct.
        let labels = threshold_labels(&[0.1, 0.1000001, 0.2]);
        assert_ne!(labels[0], labels[1]);
    }
}
