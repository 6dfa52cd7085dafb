//! The [`Chart`] value (a PNG that shows itself inline in evcxr), rendering, and grids of charts.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, Result};

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`), so charts need no system font.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family charts use.
pub(crate) const FAMILY: &str = "sans-serif";

static PIXEL_RATIO: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Draws every chart made after this call with `ratio` device pixels per chart pixel (1 to 3; default 1):
/// with 2, an 800 x 480 chart is a 1600 x 960 PNG with everything in it twice as large, so it stays crisp on
/// a high-density screen or when a blog shrinks it to its column. Applies to the whole process (in a
/// notebook: every later cell).
///
/// ```
/// use prunelab_plot::{set_pixel_ratio, LineChart};
///
/// set_pixel_ratio(2)?;
/// let chart = LineChart::new("crisp").values("x", &[1.0, 2.0]).draw()?;
/// assert_eq!(chart.size(), (1600, 960));
/// set_pixel_ratio(1)?;
/// # Ok::<(), prunelab_plot::PlotError>(())
/// ```
pub fn set_pixel_ratio(ratio: u32) -> Result<()> {
    if !(1..=3).contains(&ratio) {
        return Err(PlotError::Invalid(format!(
            "pixel ratio {ratio} is outside 1..=3"
        )));
    }
    PIXEL_RATIO.store(ratio, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The current pixel ratio (see [`set_pixel_ratio`]).
pub fn pixel_ratio() -> u32 {
    PIXEL_RATIO.load(std::sync::atomic::Ordering::Relaxed)
}

/// A length in chart pixels as device pixels.
pub(crate) fn px(v: i32) -> i32 {
    v * pixel_ratio() as i32
}

/// A font size in chart pixels as device pixels.
pub(crate) fn font_px(size: u32) -> f64 {
    (size * pixel_ratio()) as f64
}

/// Registers the embedded font with plotters once.
pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|style| plotters::style::register_font(FAMILY, style, FONT).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// A rendered chart: PNG bytes plus the raw pixels (for grids).
///
/// In an evcxr notebook a `Chart` value at the end of a cell shows itself inline as an `image/png` output.
///
/// ```
/// use prunelab_plot::LineChart;
///
/// let chart = LineChart::new("loss").values("train", &[1.0, 0.5, 0.25]).draw()?;
/// assert!(chart.png().starts_with(b"\x89PNG"));
/// # Ok::<(), prunelab_plot::PlotError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Chart {
    width: u32,
    height: u32,
    title: String,
    rgb: Vec<u8>,
    png: Vec<u8>,
}

impl std::fmt::Debug for Chart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Chart({}x{}, {} PNG bytes)",
            self.width,
            self.height,
            self.png.len()
        )
    }
}

impl Chart {
    fn from_rgb(width: u32, height: u32, title: String, rgb: Vec<u8>) -> Result<Chart> {
        let mut png_bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
            // The title travels in the file (PNG's standard `Title` text chunk): renderers use it as alt text.
            if !title.is_empty() {
                encoder
                    .add_itxt_chunk("Title".to_string(), title.clone())
                    .map_err(|e| PlotError::Encode(e.to_string()))?;
            }
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Default);
            let mut writer = encoder
                .write_header()
                .map_err(|e| PlotError::Encode(e.to_string()))?;
            writer
                .write_image_data(&rgb)
                .map_err(|e| PlotError::Encode(e.to_string()))?;
        }
        Ok(Chart {
            width,
            height,
            title,
            rgb,
            png: png_bytes,
        })
    }

    /// The PNG file's bytes.
    pub fn png(&self) -> &[u8] {
        &self.png
    }

    /// The chart's title (the panels' titles joined by "; " for a grid); empty when it has none.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The raw RGB pixels, row by row.
    pub(crate) fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Writes the PNG to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, &self.png).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The PNG as base64, as notebooks embed it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.png)
    }

    /// The blocks evcxr reads from a cell's output: the `image/png` with the title as its alt text (in the
    /// output's metadata), the same image as `text/html` (an `<img>` with `alt`) and the title as
    /// `text/plain`, so converters and consoles that cannot show a PNG still say what the chart is.
    pub fn evcxr_block(&self) -> String {
        let base64 = self.to_base64();
        crate::output::image_blocks(
            &[crate::output::Image {
                mime: "image/png",
                base64: &base64,
            }],
            &self.title,
            "chart",
        )
    }

    /// Shows the chart inline in evcxr (an `image/png` output, with the fallbacks of
    /// [`evcxr_block`](Self::evcxr_block)).
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_block());
    }

    /// Puts several charts into one image, `columns` per row, each cell as large as the largest chart.
    /// A notebook cell shows one output per MIME type, so a cell that wants several charts returns a grid.
    pub fn grid(charts: &[Chart], columns: usize) -> Result<Chart> {
        if charts.is_empty() {
            return Err(PlotError::NoData("grid of no charts"));
        }
        if columns == 0 {
            return Err(PlotError::Invalid("columns must be at least 1".into()));
        }
        let cell_w = charts.iter().map(|c| c.width).max().unwrap_or(1);
        let cell_h = charts.iter().map(|c| c.height).max().unwrap_or(1);
        let cols = columns.min(charts.len()) as u32;
        let rows = charts.len().div_ceil(columns) as u32;
        let (w, h) = (cell_w * cols, cell_h * rows);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        for (i, c) in charts.iter().enumerate() {
            let (x0, y0) = ((i as u32 % cols) * cell_w, (i as u32 / cols) * cell_h);
            for y in 0..c.height {
                let src = (y * c.width * 3) as usize;
                let dst = (((y0 + y) * w + x0) * 3) as usize;
                rgb[dst..dst + (c.width * 3) as usize]
                    .copy_from_slice(&c.rgb[src..src + (c.width * 3) as usize]);
            }
        }
        let titles: Vec<&str> = charts
            .iter()
            .map(|c| c.title.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        Chart::from_rgb(w, h, titles.join("; "), rgb)
    }
}

/// Renders a `width × height` chart (in chart pixels: the bitmap is [`pixel_ratio`] times larger, and `draw`
/// sizes everything with [`px`] and [`font_px`]) titled `title` with `draw` on a white bitmap.
pub(crate) fn render(
    width: u32,
    height: u32,
    title: &str,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Chart> {
    if !(16..=8192).contains(&width) || !(16..=8192).contains(&height) {
        return Err(PlotError::Invalid(format!(
            "size {width}x{height} is outside 16..=8192 pixels"
        )));
    }
    let (width, height) = (width * pixel_ratio(), height * pixel_ratio());
    ensure_font()?;
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(PlotError::draw)?;
        draw(&root)?;
        root.present().map_err(PlotError::draw)?;
    }
    Chart::from_rgb(width, height, title.to_string(), rgb)
}

/// The tab10 palette.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour `i` of the palette, cycling.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}
