//! Persistent build folders for kernels ("slots"): evcxr compiles every cell and the workspace crates into its
//! build folder, so a folder that outlives the kernel lets the next kernel start with everything compiled.
//!
//! Each kernel, headless session and warm-up holds an exclusive lock on one slot while it runs; two kernels
//! never share a folder. Slots live under `<cache>/prunelab/kernels/slot-N` (`<cache>` is `$XDG_CACHE_HOME` or
//! the platform's cache folder, or `$PRUNELAB_KERNEL_DIR` in place of `<cache>/prunelab/kernels`).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// The most slots kept; a kernel started while all are locked gets an error that says so.
pub const MAX_SLOTS: usize = 64;

/// Cargo settings for every crate a cell depends on: optimised as a release build is, without debug assertions
/// or overflow checks, so library code runs at release speed inside cells (cells themselves keep evcxr's
/// profile, fast to compile); and the workspace's patched crates (`vendor/`, see `vendor/PATCHES.md`) in
/// place of crates.io's, as the workspace itself builds them. Read by cargo from the folder above the slots,
/// which evcxr never writes.
pub fn cargo_config(workspace: &Path) -> String {
    let plotters = workspace.join("vendor").join("plotters");
    format!(
        "\
# Written by the prunelab kernel: dependencies of notebook cells are compiled as a release build would be.
[profile.dev.package.\"*\"]
opt-level = 3
debug-assertions = false
overflow-checks = false

# The charts' plotters with the workspace's patch (vendor/PATCHES.md).
[patch.crates-io]
plotters = {{ path = {} }}
",
        toml_string(&plotters.to_string_lossy())
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The folder that holds the slots.
pub fn kernels_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PRUNELAB_KERNEL_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let cache = dirs::cache_dir().ok_or_else(|| {
        anyhow!("no cache folder (set HOME, XDG_CACHE_HOME or PRUNELAB_KERNEL_DIR)")
    })?;
    Ok(cache.join("prunelab").join("kernels"))
}

/// A locked build folder; the lock is released when this is dropped (or the process ends).
#[derive(Debug)]
pub struct Slot {
    dir: PathBuf,
    _lock: File,
}

impl Slot {
    /// Locks the first free slot under `root` (created as needed), with the cargo settings beside it and the
    /// workspace's `Cargo.lock` in it (see [`crate::lockfile`]).
    pub fn acquire_in(root: &Path) -> Result<Slot> {
        std::fs::create_dir_all(root.join(".cargo"))
            .with_context(|| format!("creating {}", root.display()))?;
        let workspace = crate::kernel::workspace_root();
        let config = root.join(".cargo").join("config.toml");
        let wanted = cargo_config(&workspace);
        if std::fs::read_to_string(&config).ok().as_deref() != Some(wanted.as_str()) {
            std::fs::write(&config, &wanted)
                .with_context(|| format!("writing {}", config.display()))?;
        }
        for n in 0..MAX_SLOTS {
            let dir = root.join(format!("slot-{n}"));
            let lock = lock_file(&dir)?;
            match lock.try_lock() {
                Ok(()) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    // A new slot on a machine with a shared build: its compiled crates, linked, not rebuilt.
                    if !dir.join("target").exists() {
                        if let Some(shared) = crate::shared::shared_build() {
                            crate::shared::fill_slot(&shared, &dir).with_context(|| {
                                format!("filling {} from {}", dir.display(), shared.display())
                            })?;
                        }
                    }
                    crate::lockfile::sync(&dir, &workspace)?;
                    return Ok(Slot { dir, _lock: lock });
                }
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", dir.display()))
                }
            }
        }
        bail!(
            "all {MAX_SLOTS} kernel build folders in {} are in use; stop a kernel or set PRUNELAB_KERNEL_DIR",
            root.display()
        )
    }

    /// Locks the first free slot in [`kernels_dir`].
    pub fn acquire() -> Result<Slot> {
        Slot::acquire_in(&kernels_dir()?)
    }

    /// The build folder (evcxr's `EVCXR_TMPDIR`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Points evcxr at this slot. Call before evcxr starts, while no other thread reads the environment.
    pub fn export(&self) {
        // SAFETY (of set_var): called at start-up before evcxr or any other thread runs.
        std::env::set_var("EVCXR_TMPDIR", &self.dir);
        // New variables' types come from the compiler's errors, so no kernel holds rust-analyzer's
        // analysis of every crate (over a gigabyte) unless completion asks for it. A user's own value wins.
        if std::env::var_os(evcxr::VARIABLE_TYPES_ENV).is_none() {
            std::env::set_var(evcxr::VARIABLE_TYPES_ENV, "compiler");
        }
    }
}

/// The lock file of the slot in `dir` (beside it, so removing the folder keeps the lock meaningful).
fn lock_file(dir: &Path) -> Result<File> {
    let path = dir.with_extension("lock");
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// What `clean` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Slots removed.
    pub removed: usize,
    /// Bytes freed.
    pub bytes: u64,
    /// Slots left alone because a running kernel holds them.
    pub busy: Vec<PathBuf>,
}

/// Removes every slot under `root` that no running kernel holds.
pub fn clean_in(root: &Path) -> Result<Cleaned> {
    let mut cleaned = Cleaned::default();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(cleaned);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("slot-"))
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        let lock = lock_file(&dir)?;
        match lock.try_lock() {
            Ok(()) => {
                let bytes = folder_size(&dir);
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
                let _ = std::fs::remove_file(dir.with_extension("lock"));
                cleaned.removed += 1;
                cleaned.bytes += bytes;
            }
            Err(TryLockError::WouldBlock) => cleaned.busy.push(dir),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", dir.display()))
            }
        }
    }
    Ok(cleaned)
}

/// Bytes in the files under `dir` (symbolic links not followed).
pub fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// `prunelab kernel clean`: removes the slots no kernel holds and says how much that freed.
pub fn clean() -> Result<()> {
    let root = kernels_dir()?;
    let cleaned = clean_in(&root)?;
    println!(
        "removed {} kernel build folder(s) from {} ({:.0} MB freed)",
        cleaned.removed,
        root.display(),
        cleaned.bytes as f64 / 1e6
    );
    for dir in &cleaned.busy {
        println!("kept {} (a running kernel holds it)", dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("prunelab-slot-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn two_holders_never_share_a_slot_and_a_released_slot_is_reused() -> Result<()> {
        let root = temp_root("share");
        let a = Slot::acquire_in(&root)?;
        let b = Slot::acquire_in(&root)?;
        assert_ne!(a.dir(), b.dir());
        assert!(a.dir().ends_with("slot-0") && b.dir().ends_with("slot-1"));
        assert_eq!(
            std::fs::read_to_string(root.join(".cargo/config.toml"))?,
            cargo_config(&crate::kernel::workspace_root())
        );
        drop(a);
        let c = Slot::acquire_in(&root)?;
        assert!(
            c.dir().ends_with("slot-0"),
            "the released slot comes back: {:?}",
            c.dir()
        );
        drop((b, c));
        std::fs::remove_dir_all(&root)?;
        Ok(())
    }

    #[test]
    fn clean_removes_free_slots_and_keeps_held_ones() -> Result<()> {
        let root = temp_root("clean");
        let held = Slot::acquire_in(&root)?;
        let free = Slot::acquire_in(&root)?;
        std::fs::write(free.dir().join("artefact"), vec![0u8; 1000])?;
        std::fs::write(held.dir().join("artefact"), vec![0u8; 10])?;
        drop(free);
        let cleaned = clean_in(&root)?;
        assert_eq!(cleaned.removed, 1);
        // The artefact and the slot's copy of the workspace's Cargo.lock.
        let lock = crate::lockfile::workspace_lock(&crate::kernel::workspace_root());
        assert_eq!(cleaned.bytes, 1000 + std::fs::metadata(lock)?.len());
        assert_eq!(cleaned.busy, vec![held.dir().to_path_buf()]);
        assert!(held.dir().join("artefact").exists());
        assert!(!root.join("slot-1").exists());
        drop(held);
        assert_eq!(clean_in(&root)?.removed, 1);
        std::fs::remove_dir_all(&root)?;
        Ok(())
    }
}
