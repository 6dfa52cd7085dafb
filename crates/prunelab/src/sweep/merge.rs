//! Reading a results folder: the spec it was made for, and the shards' records merged into one table.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sweep::cell::Cell;
use crate::sweep::results::{list, read_records, CellRecord, SweepResults};
use crate::sweep::spec::SweepSpec;

/// The spec a results folder was made for (written there by [`SweepSpec::run_shard`]), checked.
pub fn read_spec(dir: &Path) -> Result<SweepSpec> {
    SweepSpec::from_results_dir(dir)
}

/// Merges the shards' records in `dir` (the folder [`SweepSpec::run_shard`] wrote): every cell of the spec
/// must be there exactly once, else [`Error::Merge`] names the missing and duplicated cells.
pub fn merge_dir(dir: &Path) -> Result<SweepResults> {
    let spec = SweepSpec::from_results_dir(dir)?;
    let cells = spec.plan()?;
    let digest = spec.digest();
    let records = read_records(dir)?;
    let mut seen: HashMap<String, Vec<PathBuf>> = HashMap::new();
    let mut by_id: HashMap<String, CellRecord> = HashMap::new();
    let mut foreign: Vec<String> = Vec::new();
    for (path, record) in records {
        if record.spec != digest {
            foreign.push(format!("{} ({})", record.cell, path.display()));
            continue;
        }
        seen.entry(record.cell.clone()).or_default().push(path);
        by_id.insert(record.cell.clone(), record);
    }
    if !foreign.is_empty() {
        return Err(Error::Incompatible(format!(
            "{} record(s) in {} belong to another spec: {}",
            foreign.len(),
            dir.display(),
            list(&foreign)
        )));
    }
    let planned: HashSet<String> = cells.iter().map(Cell::id).collect();
    let mut unknown: Vec<String> = seen
        .keys()
        .filter(|id| !planned.contains(*id))
        .cloned()
        .collect();
    unknown.sort();
    let mut duplicated: Vec<String> = cells
        .iter()
        .filter_map(|c| {
            let files = seen.get(&c.id())?;
            (files.len() > 1).then(|| {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                format!("{} (in {})", c.id(), names.join(", "))
            })
        })
        .collect();
    duplicated.extend(
        unknown
            .iter()
            .map(|id| format!("{id} (not a cell of this spec)")),
    );
    let missing: Vec<String> = cells
        .iter()
        .map(Cell::id)
        .filter(|id| !seen.contains_key(id))
        .collect();
    if !missing.is_empty() || !duplicated.is_empty() {
        let mut reason = String::new();
        if !missing.is_empty() {
            let _ = write!(
                reason,
                "{} of {} cells missing: {}; run their shards again (done cells are skipped)",
                missing.len(),
                cells.len(),
                list(&missing)
            );
        }
        if !duplicated.is_empty() {
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            let _ = write!(
                reason,
                "{} cell(s) recorded more than once or unknown: {}",
                duplicated.len(),
                list(&duplicated)
            );
        }
        return Err(Error::Merge {
            dir: dir.into(),
            missing,
            duplicated,
            reason,
        });
    }
    let records: Vec<CellRecord> = cells.iter().filter_map(|c| by_id.remove(&c.id())).collect();
    SweepResults::merge(
        spec.name.clone(),
        spec.x_name(),
        spec.seeds.clone(),
        records,
    )
}
