//! What a sweep writes and reads: the cell records of a results folder, and the table merged from them with
//! the mean and spread over seeds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sweep::cell::{CellRow, Shard};

/// The spec's copy in a results folder.
pub const SPEC_FILE: &str = "spec.json";

/// A finished cell as a shard writes it: one line of the shard's JSON Lines file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell's id ([`Cell::id`](crate::sweep::Cell::id)).
    pub cell: String,
    /// The cell's position in the plan.
    pub index: usize,
    /// The cell's seed.
    pub seed: u64,
    /// The metric's name.
    pub metric: String,
    /// The result rows.
    pub rows: Vec<CellRow>,
    /// Seconds the cell took, training included (0 for its training when an earlier cell of the same seed in
    /// the same process trained the network).
    pub wall_s: f64,
    /// The prunelab version that computed it.
    pub version: String,
    /// The spec's [`digest`](crate::sweep::SweepSpec::digest).
    pub spec: String,
    /// The shard that ran it (`I/N`).
    pub shard: String,
    /// The machine that ran it.
    pub host: String,
}

/// One row of the merged table: a method at one x, over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRow {
    /// The method or arm.
    pub method: String,
    /// The sparsity or threshold.
    pub x: f64,
    /// How many seeds.
    pub n: usize,
    /// Mean of the metric over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean number of weights remaining.
    pub remaining: f64,
}

/// The results of a sweep: every cell's record, and the merged table.
///
/// ```
/// use prunelab::sweep::SweepSpec;
///
/// let spec = SweepSpec::from_toml(r#"
///     name = "xor-lottery"
///     seeds = [0, 1, 2]
///     [data]
///     dataset = "xor"
///     [network]
///     hidden = [8]
///     output = "sigmoid"
///     [train]
///     lr = 0.05
///     epochs = 30
///     batch_size = "full"
///     [experiment]
///     kind = "lottery"
///     rounds = 2
///     amount = 0.3
/// "#)?;
/// let results = spec.run_local()?;
/// assert_eq!(results.records.len(), 3);
/// let ticket = results.series("lottery ticket");
/// assert_eq!(ticket.len(), 3); // dense, then two rounds
/// assert!(ticket.iter().all(|p| p.lo <= p.mean && p.mean <= p.hi));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// The study's name.
    pub name: String,
    /// The metric's name.
    pub metric: String,
    /// What x is: `sparsity` or `threshold`.
    pub x_name: String,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Every cell's record, in plan order.
    pub records: Vec<CellRecord>,
    /// Mean and spread per method and x: methods in order of appearance, x ascending.
    pub rows: Vec<MergedRow>,
}

/// A point of a merged series: the mean and a band of one standard deviation either side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandPoint {
    /// The sparsity or threshold.
    pub x: f64,
    /// The mean over seeds.
    pub mean: f64,
    /// Mean minus one standard deviation.
    pub lo: f64,
    /// Mean plus one standard deviation.
    pub hi: f64,
}

/// What [`SweepSpec::run_shard`](crate::sweep::SweepSpec::run_shard) did.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardReport {
    /// The shard.
    pub shard: Shard,
    /// Cells in the shard.
    pub cells: usize,
    /// Cells found already done in the folder and skipped.
    pub skipped: usize,
    /// Cells computed now.
    pub ran: usize,
    /// Seconds this call took.
    pub wall_s: f64,
    /// The shard's results file.
    pub file: PathBuf,
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, synced and renamed: a reader sees
/// the old file or the new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

pub(super) fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The results file of a shard.
pub fn shard_file(dir: &Path, shard: Shard) -> PathBuf {
    dir.join(format!("shard-{}-of-{}.jsonl", shard.index, shard.count))
}

/// The largest results file read (a shard's records are a few hundred bytes per cell).
const MAX_RESULTS_FILE: u64 = 1 << 30;

/// Every record in the `*.jsonl` files of `dir`, with the file it came from (files in name order).
pub(super) fn read_records(dir: &Path) -> Result<Vec<(PathBuf, CellRecord)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jsonl")
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let len = std::fs::metadata(&file).map_err(io_err(&file))?.len();
        if len > MAX_RESULTS_FILE {
            return Err(Error::Format {
                path: file,
                reason: format!("{len} bytes is too large for a shard's results (at most 1 GiB)"),
            });
        }
        crate::mem::ensure("a shard's results", len)?;
        let text = std::fs::read_to_string(&file).map_err(io_err(&file))?;
        for (k, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: CellRecord = serde_json::from_str(line).map_err(|e| Error::Format {
                path: file.clone(),
                reason: format!("line {}: not a cell record: {e}", k + 1),
            })?;
            out.push((file.clone(), record));
        }
    }
    Ok(out)
}

/// One method's values at one x, seed by seed: (x, metrics, weights remaining).
type Group = (f64, Vec<f64>, Vec<usize>);

/// The first ten items and how many more.
pub(super) fn list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 10 {
        let _ = write!(s, " and {} more", items.len() - 10);
    }
    s
}

impl SweepResults {
    /// Merges the records of a spec named `name` (in plan order) into the table; `x_name` names the x of
    /// its rows, `seeds` are the spec's seeds.
    pub(super) fn merge(
        name: String,
        x_name: &str,
        seeds: Vec<u64>,
        records: Vec<CellRecord>,
    ) -> Result<SweepResults> {
        let metric = records
            .first()
            .map(|r| r.metric.clone())
            .unwrap_or_default();
        // (method, x bits) -> values in plan order (seed order), remaining counts.
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, BTreeMap<u64, Group>> = HashMap::new();
        for r in &records {
            for row in &r.rows {
                if !order.contains(&row.method) {
                    order.push(row.method.clone());
                }
                // x ascending: the bit pattern of a positive float orders as the float (x is never negative;
                // 0 and -0 are one point).
                let key = if row.x > 0.0 { row.x.to_bits() } else { 0 };
                let g = groups
                    .entry(row.method.clone())
                    .or_default()
                    .entry(key)
                    .or_insert((row.x, Vec::new(), Vec::new()));
                g.1.push(row.metric);
                g.2.push(row.remaining);
            }
        }
        let mut rows = Vec::new();
        for method in &order {
            for (x, values, remaining) in groups[method].values() {
                let n = values.len();
                let mean = values.iter().sum::<f64>() / n as f64;
                let std = if n > 1 {
                    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
                } else {
                    0.0
                };
                rows.push(MergedRow {
                    method: method.clone(),
                    x: *x,
                    n,
                    mean,
                    std,
                    min: values.iter().copied().fold(f64::INFINITY, f64::min),
                    max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    remaining: remaining.iter().sum::<usize>() as f64 / n as f64,
                });
            }
        }
        Ok(SweepResults {
            name,
            metric,
            x_name: x_name.into(),
            seeds,
            records,
            rows,
        })
    }

    /// The methods (or arms), in order of appearance.
    pub fn methods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.rows {
            if !out.contains(&r.method) {
                out.push(r.method.clone());
            }
        }
        out
    }

    /// One method's mean and ±1 standard deviation band, x ascending.
    pub fn series(&self, method: &str) -> Vec<BandPoint> {
        self.rows
            .iter()
            .filter(|r| r.method == method)
            .map(|r| BandPoint {
                x: r.x,
                mean: r.mean,
                lo: r.mean - r.std,
                hi: r.mean + r.std,
            })
            .collect()
    }

    /// The merged table as CSV: `method,<x>,seeds,mean,std,min,max,remaining`.
    pub fn to_csv(&self) -> String {
        let mut out = format!("method,{},seeds,mean,std,min,max,remaining\n", self.x_name);
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                crate::csv_text::field(&r.method),
                r.x,
                r.n,
                r.mean,
                r.std,
                r.min,
                r.max,
                r.remaining
            );
        }
        out
    }

    /// Every cell's rows as CSV: `seed,method,<x>,remaining,<metric>,cell_wall_s`.
    pub fn cells_csv(&self) -> String {
        let mut out = format!(
            "seed,method,{},remaining,{},cell_wall_s\n",
            self.x_name, self.metric
        );
        for rec in &self.records {
            for r in &rec.rows {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    rec.seed,
                    crate::csv_text::field(&r.method),
                    r.x,
                    r.remaining,
                    r.metric,
                    rec.wall_s
                );
            }
        }
        out
    }

    /// The results as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serialize {
            what: "the merged results",
            format: "JSON",
            reason: e.to_string(),
        })
    }

    /// Writes `merged.csv`, `merged.json` and `cells.csv` into `dir`, each atomically; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let files = [
            ("merged.csv", self.to_csv()),
            ("merged.json", self.to_json()?),
            ("cells.csv", self.cells_csv()),
        ];
        let mut out = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes())?;
            out.push(path);
        }
        Ok(out)
    }

    /// Total seconds of all cells (the work one process would do, less repeated trainings).
    pub fn cell_seconds(&self) -> f64 {
        self.records.iter().map(|r| r.wall_s).sum()
    }
}

impl fmt::Display for SweepResults {
    /// A table: method, x, mean ± std over seeds, min and max.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .methods()
            .iter()
            .map(|m| m.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let s = self.seeds.len();
        writeln!(
            f,
            "{}: {} over {s} seed{} (mean ± sample std, min, max)",
            self.name,
            self.metric,
            if s == 1 { "" } else { "s" }
        )?;
        write!(
            f,
            "{:<width$}  {:>9}  {:>17}  {:>8}  {:>8}",
            "method", self.x_name, self.metric, "min", "max"
        )?;
        for r in &self.rows {
            write!(
                f,
                "\n{:<width$}  {:>9.4}  {:>8.4} ± {:<6.4}  {:>8.4}  {:>8.4}",
                r.method, r.x, r.mean, r.std, r.min, r.max
            )?;
        }
        Ok(())
    }
}
