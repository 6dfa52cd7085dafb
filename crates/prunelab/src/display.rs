//! Notebook display: results that notebooks show render themselves as HTML tables (`text/html` in evcxr).

use std::fmt::Write as _;

use crate::prune::PruneReport;
use crate::sweep::{SweepResults, SweepTable, ThresholdSweepResult};
use crate::train::History;

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An HTML table from a header row and body rows.
pub(crate) fn table(caption: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table class=\"prunelab\">");
    if !caption.is_empty() {
        let _ = write!(h, "<caption>{}</caption>", esc(caption));
    }
    h.push_str("<thead><tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

/// Prints an evcxr `text/html` block.
/// A score for a table: four decimals, or scientific notation when that would hide its size.
fn score(v: f32) -> String {
    if v != 0.0 && v.is_finite() && !(1e-3..1e5).contains(&v.abs()) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Prints a table as evcxr's `text/html` block, with its caption as the `text/plain` fallback (what
/// consoles and converters without HTML show).
fn show_html(html: &str) {
    println!(
        "EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT\n\
         EVCXR_BEGIN_CONTENT text/plain\n{}\nEVCXR_END_CONTENT",
        plain_caption(html)
    );
}

/// The caption of a table made by [`table`], as plain text on one line ("table" when it has none).
fn plain_caption(html: &str) -> String {
    let caption = html
        .split_once("<caption>")
        .and_then(|(_, rest)| rest.split_once("</caption>"))
        .map(|(caption, _)| {
            caption
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .unwrap_or_default();
    let caption = caption.split(['\n', '\r']).collect::<Vec<_>>().join(" ");
    if caption.trim().is_empty() {
        "table".to_string()
    } else {
        caption
    }
}

impl PruneReport {
    /// The report as an HTML table.
    pub fn to_html(&self) -> String {
        let header = [
            "layer",
            "shape",
            "weights",
            "remaining",
            "sparsity",
            "live units",
            "MACs",
        ]
        .map(String::from);
        let mut rows: Vec<Vec<String>> = self
            .layers
            .iter()
            .map(|l| {
                vec![
                    l.layer.to_string(),
                    format!("{}×{}", l.units, l.inputs),
                    l.weights.to_string(),
                    l.remaining.to_string(),
                    format!("{:.1}%", 100.0 * l.sparsity),
                    format!(
                        "{}/{}{}",
                        l.live_units,
                        l.units,
                        if l.dead { " (none live)" } else { "" }
                    ),
                    l.macs.to_string(),
                ]
            })
            .collect();
        rows.push(vec![
            "total".into(),
            String::new(),
            self.weights.to_string(),
            self.remaining.to_string(),
            format!("{:.1}%", 100.0 * self.sparsity),
            String::new(),
            self.macs.to_string(),
        ]);
        let caption = if self.output_is_constant() {
            "Pruning report — no path from input to output survives: the output is constant"
        } else {
            "Pruning report"
        };
        table(caption, &header, &rows)
    }

    /// Shows the report as a table in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

impl SweepTable {
    /// The table as HTML: one row per sparsity, one column per method.
    pub fn to_html(&self) -> String {
        let methods = self.methods();
        let mut header = vec!["sparsity".to_string()];
        header.extend(methods.iter().cloned());
        let mut sparsities: Vec<f64> = self.rows.iter().map(|r| r.sparsity).collect();
        sparsities.sort_by(f64::total_cmp);
        sparsities.dedup();
        let rows: Vec<Vec<String>> = sparsities
            .iter()
            .map(|&s| {
                std::iter::once(format!("{s:.2}"))
                    .chain(methods.iter().map(|m| {
                        self.rows
                            .iter()
                            .find(|r| &r.method == m && r.sparsity == s)
                            .map_or("-".into(), |r| format!("{:.4}", r.metric))
                    }))
                    .collect()
            })
            .collect();
        table(&format!("{} by sparsity", self.metric_name), &header, &rows)
    }

    /// Shows the table in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

impl SweepResults {
    /// The merged table as HTML: one row per sparsity (or threshold), one column per method, each cell the
    /// mean ± sample standard deviation over the seeds.
    pub fn to_html(&self) -> String {
        let methods = self.methods();
        let mut header = vec![self.x_name.clone()];
        header.extend(methods.iter().cloned());
        let mut xs: Vec<f64> = self.rows.iter().map(|r| r.x).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let rows: Vec<Vec<String>> = xs
            .iter()
            .map(|&x| {
                std::iter::once(
                    format!("{x:.4}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string(),
                )
                .chain(methods.iter().map(|m| {
                    self.rows
                        .iter()
                        .find(|r| &r.method == m && r.x == x)
                        .map_or("-".into(), |r| format!("{:.4} ± {:.4}", r.mean, r.std))
                }))
                .collect()
            })
            .collect();
        let n = self.seeds.len();
        table(
            &format!(
                "{}: {}, mean ± sample std over {n} seed{}",
                self.name,
                self.metric,
                if n == 1 { "" } else { "s" }
            ),
            &header,
            &rows,
        )
    }

    /// Shows the table in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

impl ThresholdSweepResult {
    /// A summary table: points, range, and the metric and weights removed at a few thresholds.
    pub fn to_html(&self) -> String {
        let header = [
            "threshold",
            "weights removed",
            "fraction removed",
            self.metric_name.as_str(),
        ]
        .map(String::from);
        let n = self.len();
        let picks: Vec<usize> = if n <= 11 {
            (0..n).collect()
        } else {
            (0..=10).map(|i| i * (n - 1) / 10).collect()
        };
        let rows: Vec<Vec<String>> = picks
            .into_iter()
            .map(|i| {
                vec![
                    format!("{:.4}", self.thresholds[i]),
                    self.removed[i].to_string(),
                    format!(
                        "{:.1}%",
                        100.0 * self.removed[i] as f64 / self.total_weights as f64
                    ),
                    format!("{:.4}", self.metric[i]),
                ]
            })
            .collect();
        table(&format!("Threshold sweep ({n} points)"), &header, &rows)
    }

    /// Shows the summary table in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

impl History {
    /// A one-row summary table.
    pub fn to_html(&self) -> String {
        let mut header = ["epochs", "first loss", "final loss", "min loss"]
            .map(String::from)
            .to_vec();
        let f = |v: Option<f32>| v.map_or("-".into(), |v| format!("{v:.6}"));
        let mut row = vec![
            format!(
                "{}..={}",
                self.start_epoch + 1,
                self.start_epoch + self.len()
            ),
            f(self.loss.first().copied()),
            f(self.final_loss()),
            f(self.min_loss()),
        ];
        if let (Some(m), Some(v)) = (self.metric, self.validation.last()) {
            header.push(format!("final val {}", m.name()));
            row.push(format!("{v:.4}"));
        }
        if self.stopped_early {
            header.push("stopped early".into());
            row.push("yes".into());
        }
        table("Training history", &header, &[row])
    }

    /// Shows the summary in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

/// Per-unit scores of hidden layers (e.g. the unit norms from
/// [`unit_scores`](crate::prune::unit_scores)) as a displayable table, one row per hidden layer.
///
/// ```
/// use prunelab::prelude::*;
/// use prunelab::display::ScoreTable;
///
/// let model = Mlp::config(&[2, 3, 1]).build()?;
/// let norms = unit_scores(&model, &UnitScore::Incoming { norm: Norm::L1, with_bias: true })?;
/// let table = ScoreTable::new("unit L1 norms", norms);
/// assert!(table.to_html().contains("<th>unit 2</th>"));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTable {
    /// The caption.
    pub caption: String,
    /// One vector per hidden layer.
    pub scores: Vec<ndarray::Array1<f32>>,
}

impl ScoreTable {
    /// A table of `scores` with a caption.
    pub fn new(caption: impl Into<String>, scores: Vec<ndarray::Array1<f32>>) -> Self {
        ScoreTable {
            caption: caption.into(),
            scores,
        }
    }

    /// The table as HTML.
    pub fn to_html(&self) -> String {
        let width = self.scores.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut header = vec!["layer".to_string()];
        header.extend((0..width).map(|u| format!("unit {u}")));
        let rows: Vec<Vec<String>> = self
            .scores
            .iter()
            .enumerate()
            .map(|(k, s)| {
                std::iter::once(k.to_string())
                    .chain((0..width).map(|u| s.get(u).map_or(String::new(), |&v| score(v))))
                    .collect()
            })
            .collect();
        table(&self.caption, &header, &rows)
    }

    /// Shows the table in evcxr.
    pub fn evcxr_display(&self) {
        show_html(&self.to_html());
    }
}

#[cfg(test)]
mod tests {
    use super::{plain_caption, table};

    #[test]
    fn a_table_s_plain_text_is_its_caption_unescaped() {
        let html = table("AP <by> sparsity & seed", &["a".to_string()], &[]);
        assert_eq!(plain_caption(&html), "AP <by> sparsity & seed");
        assert_eq!(plain_caption(&table("", &["a".to_string()], &[])), "table");
        assert_eq!(plain_caption(&table("two\nlines", &[], &[])), "two lines");
    }
}
