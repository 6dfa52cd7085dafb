// PATCH(prunelab): rebuilds of the cell crate without cargo.
//
// A cell's build runs `cargo build`, which spends about 0.15 s (on 2 cores, ~150 dependency units) checking
// that every dependency is fresh before it runs rustc on the cell crate, about as long as rustc itself takes
// for a small cell. The rustc wrapper records the command that cargo ran for the cell crate; while the
// cargo command (manifest, flags, environment) and the files of the path dependencies are unchanged since
// then, later cells run that command directly. The first build of each evcxr process always goes through
// cargo, so a restarted kernel picks up whatever changed in between.

use super::CRATE_NAME;
use crate::eval_context::Config;
use anyhow::Context;
use anyhow::Result;
use std::hash::Hash;
use std::hash::Hasher;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// Set on cargo commands: where the rustc wrapper writes the cell crate's command.
pub(crate) const RECORD_ENV: &str = "EVCXR_RUSTC_RECORD";
const RECORD_FILE: &str = ".evcxr-rustc-command.json";

/// Called by the rustc wrapper after a successful compile: records `command` if it built the cell crate.
pub(crate) fn record(command: &Command) -> Result<()> {
    let Some(path) = std::env::var_os(RECORD_ENV) else {
        return Ok(());
    };
    let mut args = command.get_args();
    if !std::iter::from_fn(|| args.next()).any(|a| a == "--crate-name")
        || args.next().is_none_or(|name| name != CRATE_NAME)
    {
        return Ok(());
    }
    let to_str = |s: &std::ffi::OsStr| {
        s.to_str()
            .map(str::to_owned)
            .context("non-UTF-8 rustc argument")
    };
    // Cargo's variables for the crate (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...); not its jobserver, whose
    // file descriptors exist only under cargo.
    let envs: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CARGO") && k != "CARGO_MAKEFLAGS")
        .collect();
    let record = serde_json::json!({
        "program": to_str(command.get_program())?,
        "args": command.get_args().map(to_str).collect::<Result<Vec<_>>>()?,
        "envs": envs,
    });
    std::fs::write(path, record.to_string())?;
    Ok(())
}

/// The cell crate's recorded rustc command and what it was recorded for.
pub(crate) struct Replay {
    record_path: PathBuf,
    /// The key of the recording; `None` until a cargo build of this process recorded one.
    key: Option<u64>,
}

impl Replay {
    pub(crate) fn new(config: &Config) -> Replay {
        Replay {
            record_path: config.crate_dir().join(RECORD_FILE),
            key: None,
        }
    }

    /// Prepares `cargo` (a build command) to record the cell crate's rustc command.
    pub(crate) fn before_cargo(&mut self, cargo: &mut Command) {
        let _ = std::fs::remove_file(&self.record_path);
        self.key = None;
        cargo.env(RECORD_ENV, &self.record_path);
    }

    /// After a successful cargo build with `key`: the recording (if the cell crate was compiled) can be
    /// replayed while the key stays the same.
    pub(crate) fn after_cargo(&mut self, key: u64) {
        if self.record_path.exists() {
            self.key = Some(key);
        }
    }

    /// The command to run instead of cargo, when the recording was made for `key`.
    pub(crate) fn command(&self, key: u64, crate_dir: &Path) -> Option<Command> {
        if self.key != Some(key) {
            return None;
        }
        let text = std::fs::read_to_string(&self.record_path).ok()?;
        let record: serde_json::Value = serde_json::from_str(&text).ok()?;
        let mut command = Command::new(record["program"].as_str()?);
        for arg in record["args"].as_array()? {
            command.arg(arg.as_str()?);
        }
        for pair in record["envs"].as_array()? {
            command.env(pair[0].as_str()?, pair[1].as_str()?);
        }
        command.current_dir(crate_dir);
        Some(command)
    }

    /// Forgets the recording (a replay that failed for another reason than the cell's code).
    pub(crate) fn forget(&mut self) {
        self.key = None;
    }
}

/// What the recording depends on: the cargo command as evcxr builds it (program, flags, environment), the
/// manifest, and the modification times of the files of every path dependency in it.
pub(crate) fn key(cargo: &Command, crate_dir: &Path) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{cargo:#?}").hash(&mut hasher);
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap_or_default();
    manifest.hash(&mut hasher);
    for path in path_dependencies(&manifest) {
        let path = crate_dir.join(path);
        path.hash(&mut hasher);
        latest_change(&path).hash(&mut hasher);
    }
    hasher.finish()
}

/// The `path = "..."` values of a manifest's `[dependencies]` (evcxr writes that section last).
fn path_dependencies(manifest: &str) -> Vec<PathBuf> {
    let Some((_, dependencies)) = manifest.split_once("[dependencies]") else {
        return Vec::new();
    };
    dependencies
        .split("path")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('=')?.trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
        .collect()
}

/// The latest modification time among the files under `dir`, not looking into `target` or hidden folders.
fn latest_change(dir: &Path) -> Option<SystemTime> {
    let mut latest = std::fs::metadata(dir).ok()?.modified().ok();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let time = if kind.is_dir() {
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            latest_change(&entry.path())
        } else {
            entry.metadata().ok().and_then(|m| m.modified().ok())
        };
        latest = latest.max(time);
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_dependencies_are_found() {
        let manifest = "[package]\nname = \"ctx\"\n[lib]\npath = \"src/lib.rs\"\n[dependencies]\n\
                        a = { path = \"/x/a\" }\nb = { version = \"1\" }\nc = {path=\"/x/c\", features = [\"f\"]}\n";
        assert_eq!(
            path_dependencies(manifest),
            vec![PathBuf::from("/x/a"), PathBuf::from("/x/c")]
        );
    }
}
