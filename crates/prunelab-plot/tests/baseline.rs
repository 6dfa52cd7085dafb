//! Text sits on one baseline: in "0.0", drawn by plotters with the embedded font at every size from 8 to 48
//! pixels, the period's lowest row of ink is not below the zeros' (a zero overshoots the baseline, a period
//! sits on it). The per-glyph rounding this guards against put the period a pixel low at every odd size, so
//! tick labels read "0,8" (vendor/PATCHES.md, plotters change 1).

use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "baseline-test";

/// The lowest row with ink (a channel darker than half) in each run of inked columns, left to right.
fn bottoms_of_column_runs(rgb: &[u8], width: usize, height: usize) -> Vec<usize> {
    let inked = |x: usize, y: usize| rgb[(y * width + x) * 3] < 128;
    let mut runs = Vec::new();
    let mut current: Option<usize> = None;
    for x in 0..width {
        let bottom = (0..height).rev().find(|&y| inked(x, y));
        match (bottom, current) {
            (Some(b), Some(c)) => current = Some(c.max(b)),
            (Some(b), None) => current = Some(b),
            (None, Some(c)) => {
                runs.push(c);
                current = None;
            }
            (None, None) => {}
        }
    }
    runs.extend(current);
    runs
}

fn draw(text: &str, size: u32) -> (Vec<u8>, usize, usize) {
    let (width, height) = (size as usize * 4, size as usize * 3);
    let mut rgb = vec![0u8; width * height * 3];
    {
        let root =
            BitMapBackend::with_buffer(&mut rgb, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let style = (FAMILY, size as f64).into_font().color(&BLACK);
        root.draw(&Text::new(text, (size as i32 / 2, size as i32 / 2), style))
            .unwrap();
        root.present().unwrap();
    }
    (rgb, width, height)
}

#[test]
fn a_period_sits_on_the_digits_baseline_at_every_size() {
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .unwrap_or_else(|_| panic!("font"));
    let mut low = Vec::new();
    for size in 8..=48u32 {
        let (rgb, width, height) = draw("0.0", size);
        let runs = bottoms_of_column_runs(&rgb, width, height);
        assert_eq!(
            runs.len(),
            3,
            "size {size}: \"0.0\" should show three separate glyphs, got {runs:?}"
        );
        let (zero, period) = (runs[0].min(runs[2]), runs[1]);
        if period > zero {
            low.push(format!(
                "size {size}: period's bottom row {period}, zeros' {zero}"
            ));
        }
    }
    assert!(
        low.is_empty(),
        "a period below the digits' baseline:\n{}",
        low.join("\n")
    );
}
