//! # prunelab-plot
//!
//! Charts for prunelab, drawn with plotters on its bitmap backend and encoded as PNG. A [`Chart`] shows
//! itself inline in an evcxr notebook (`image/png`) and saves to a file. The font is embedded (DejaVu Sans),
//! so charts render the same on a bare machine, and the same data gives the same pixels.
//!
//! ```
//! use prunelab::prelude::*;
//! use prunelab_plot::{Chart, LineChart, Plot};
//!
//! let data = data::xor();
//! let mut model = Mlp::config(&[2, 8, 1]).output_activation(Activation::Sigmoid).build()?;
//! let history = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05)).epochs(50).fit(&mut model, &data)?;
//! let both = Chart::grid(&[history.plot()?, model.plot()?], 2)?; // one image for one notebook cell
//! assert!(both.png().len() > 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod animation;
mod chart;
mod charts;
mod error;
mod images;
mod line;
mod network;
mod output;

pub use animation::{Animation, PruningAnimation, MAX_FRAMES};
pub use chart::{pixel_ratio, set_pixel_ratio, Chart};
pub use charts::{Plot, ScatterMatrix, ThresholdSweepPlot, WeightHistogram};
pub use error::{PlotError, Result};
pub use images::ImageGrid;
pub use line::{LineChart, Mark, Series};
pub use network::{format_weight, EdgeLabel, EdgeLabelLayout, LabelRect, NetworkPlot, PrunedEdges};
