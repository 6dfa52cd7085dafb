//! Running a sweep spec's cells: in one process, or one shard into a results folder that any number of
//! shards share.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::progress::{Counter, Progress};
use crate::sweep::cell::{Cell, CellRow, Shard};
use crate::sweep::results::{
    host, io_err, read_records, shard_file, write_atomic, CellRecord, ShardReport, SweepResults,
    SPEC_FILE,
};
use crate::sweep::spec::SweepSpec;

impl SweepSpec {
    fn record(
        &self,
        cell: &Cell,
        rows: Vec<CellRow>,
        metric: &str,
        wall_s: f64,
        shard: Shard,
    ) -> CellRecord {
        CellRecord {
            cell: cell.id(),
            index: cell.index,
            seed: cell.seed,
            metric: metric.into(),
            rows,
            wall_s,
            version: env!("CARGO_PKG_VERSION").into(),
            spec: self.digest(),
            shard: shard.to_string(),
            host: host(),
        }
    }

    /// Runs every cell in this process (seeds in parallel) and merges them; no files are written.
    pub fn run_local(&self) -> Result<SweepResults> {
        self.run_local_with(Progress::Silent)
    }

    /// [`run_local`](Self::run_local), reporting its progress cell by cell (a bar redrawn in place with
    /// [`Progress::Bar`]).
    pub fn run_local_with(&self, progress: Progress) -> Result<SweepResults> {
        progress.check()?;
        let cells = self.plan()?;
        let progress = Counter::new(progress, cells.len(), "cells");
        let data = self.load_data()?;
        let metric = self.metric(&data).name();
        let mut by_seed: Vec<Vec<&Cell>> = Vec::new();
        for cell in &cells {
            match by_seed.last_mut() {
                Some(group) if group[0].seed == cell.seed => group.push(cell),
                _ => by_seed.push(vec![cell]),
            }
        }
        let records: Vec<CellRecord> = by_seed
            .par_iter()
            .map(|group| {
                let mut trained = None;
                group
                    .iter()
                    .map(|cell| {
                        crate::interrupt::checkpoint("the sweep", || {
                            format!("before cell {}; finished cells are lost", cell.id())
                        })?;
                        let t = Instant::now();
                        let rows = self.run_cell(&data, &mut trained, cell)?;
                        progress.tick();
                        Ok(self.record(cell, rows, metric, t.elapsed().as_secs_f64(), Shard::ALL))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        SweepResults::merge(
            self.name.clone(),
            self.x_name(),
            self.seeds.clone(),
            records,
        )
    }

    /// Runs one shard's cells into the results folder `dir`: the spec is written there (or checked against
    /// the one there), cells already recorded by any shard are skipped, and after every cell the shard's
    /// JSON Lines file is rewritten atomically, so a stopped, preempted or re-queued task resumes where it
    /// was. `on_cell` hears of each cell computed, with its place in the shard.
    pub fn run_shard(
        &self,
        shard: Shard,
        dir: &Path,
        mut on_cell: impl FnMut(&CellRecord, usize, usize),
    ) -> Result<ShardReport> {
        let start = Instant::now();
        let shard = Shard::new(shard.index, shard.count)?;
        let cells = self.plan()?;
        self.claim_dir(dir)?;
        let digest = self.digest();
        let file = shard_file(dir, shard);
        let mut done: HashSet<String> = HashSet::new();
        let mut mine: Vec<CellRecord> = Vec::new();
        for (path, record) in read_records(dir)? {
            if record.spec != digest {
                return Err(Error::Incompatible(format!(
                    "{} holds a record of another spec (digest {}, this one {digest})",
                    path.display(),
                    record.spec
                )));
            }
            done.insert(record.cell.clone());
            if path == file {
                mine.push(record);
            }
        }
        let range = shard.range(cells.len());
        let todo: Vec<&Cell> = cells[range.clone()]
            .iter()
            .filter(|c| !done.contains(&c.id()))
            .collect();
        let mut report = ShardReport {
            shard,
            cells: range.len(),
            skipped: range.len() - todo.len(),
            ran: 0,
            wall_s: 0.0,
            file: file.clone(),
        };
        if !todo.is_empty() {
            let data = self.load_data()?;
            let metric = self.metric(&data).name();
            let mut trained = None;
            for (k, cell) in todo.iter().enumerate() {
                crate::interrupt::checkpoint("the sweep shard", || {
                    format!("before cell {}; finished cells are saved", cell.id())
                })?;
                let t = Instant::now();
                let rows = self.run_cell(&data, &mut trained, cell)?;
                let record = self.record(cell, rows, metric, t.elapsed().as_secs_f64(), shard);
                on_cell(&record, k + 1, todo.len());
                mine.push(record);
                let mut text = String::new();
                for r in &mine {
                    let line = serde_json::to_string(r).map_err(|e| Error::Serialize {
                        what: "a cell record",
                        format: "JSON",
                        reason: e.to_string(),
                    })?;
                    text.push_str(&line);
                    text.push('\n');
                }
                write_atomic(&file, text.as_bytes())?;
                report.ran += 1;
            }
        }
        report.wall_s = start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Writes the spec into `dir` (or checks that the one there is the same).
    fn claim_dir(&self, dir: &Path) -> Result<()> {
        let spec = self;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(SPEC_FILE);
        if path.exists() {
            let there = SweepSpec::from_results_dir(dir)?;
            if there.digest() != spec.digest() {
                return Err(Error::Incompatible(format!(
                    "{} holds results of another spec ({:?}, digest {}); this one is {:?}, digest {}: use another folder",
                    dir.display(),
                    there.name,
                    there.digest(),
                    spec.name,
                    spec.digest()
                )));
            }
            return Ok(());
        }
        let json = serde_json::to_string_pretty(spec).map_err(|e| Error::Serialize {
            what: "the sweep spec",
            format: "JSON",
            reason: e.to_string(),
        })?;
        write_atomic(&path, json.as_bytes())
    }

    /// The spec a results folder was made for (written there by [`SweepSpec::run_shard`]), checked.
    pub(super) fn from_results_dir(dir: &Path) -> Result<SweepSpec> {
        let path = dir.join(SPEC_FILE);
        let len = std::fs::metadata(&path).map_err(io_err(&path))?.len();
        if len > 1 << 20 {
            return Err(Error::Format {
                path,
                reason: "too large for a sweep spec".into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let spec: SweepSpec = serde_json::from_str(&text).map_err(|e| Error::Format {
            path: path.clone(),
            reason: format!("not a sweep spec: {e}"),
        })?;
        spec.check()?;
        Ok(spec)
    }
}
