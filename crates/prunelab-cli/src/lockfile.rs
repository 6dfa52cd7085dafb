//! The versions notebook cells compile against: exactly those of the workspace's `Cargo.lock`, the versions the
//! tests run.
//!
//! evcxr compiles cells as a crate of its own (`ctx`, in the kernel's slot), with the workspace crates as path
//! dependencies. Left to itself, cargo resolves that crate's dependencies afresh: offline (the kernel's
//! `:offline 1`) to whatever versions the registry cache happens to hold, so cells ran versions the tests never
//! ran and a cache that gained newer releases recompiled a warmed slot; and against crates of every platform
//! (`cargo metadata`, which evcxr runs, reads them all), so a cargo home filled by a build for this platform
//! alone failed. Instead, each slot starts from a copy of the workspace's lock ([`sync`]): the cell crate's
//! dependencies are a subset of the workspace's, so cargo keeps every locked version and only drops the
//! packages the cell crate does not use. (The crates evcxr runs cargo on before that, an empty one at start and
//! a dummy per `:dep`, put the lock back as they found it: `vendor/PATCHES.md`, evcxr 12.) Set-up (`kernel/build.sh`, and `prunelab warmup` through [`fetch`])
//! runs `cargo fetch --locked`, which puts every crate of that lock, for every platform, into the cargo home;
//! after it the kernel needs no network.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace's lock file.
pub fn workspace_lock(workspace: &Path) -> PathBuf {
    workspace.join("Cargo.lock")
}

/// Copies the workspace's `Cargo.lock` into the cell crate's folder `dir` (a slot, where evcxr writes the cell
/// crate's `Cargo.toml` and runs cargo) unless the two are already the same. Call before evcxr starts. After a
/// build the slot's copy holds only what the cell crate uses, so this rewrites it at each start; cargo then finds
/// the same versions and rebuilds nothing. Returns whether it wrote the file.
pub fn sync(dir: &Path, workspace: &Path) -> Result<bool> {
    let source = workspace_lock(workspace);
    let wanted = std::fs::read(&source).with_context(|| {
        format!(
            "reading {}: notebook cells compile against the workspace's locked versions \
             (restore the file with `git checkout Cargo.lock`)",
            source.display()
        )
    })?;
    let target = dir.join("Cargo.lock");
    if std::fs::read(&target).ok().as_deref() == Some(wanted.as_slice()) {
        return Ok(false);
    }
    std::fs::write(&target, &wanted).with_context(|| format!("writing {}", target.display()))?;
    Ok(true)
}

/// `cargo fetch --locked` in the workspace: every crate in its `Cargo.lock`, for every platform, into the cargo
/// home (`$CARGO_HOME`, else `~/.cargo`). Needs the network only for crates not there yet; with all of them
/// there it takes a fraction of a second.
pub fn fetch(workspace: &Path) -> Result<()> {
    let manifest = workspace.join("Cargo.toml");
    let status = Command::new("cargo")
        .args(["fetch", "--locked", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("running `cargo fetch` (is cargo on the PATH? kernel/setup.sh installs it)")?;
    if !status.success() {
        bail!(
            "`cargo fetch --locked --manifest-path {}` failed ({status}): the kernel compiles cells offline \
             against the crates of {}, and they could not be downloaded; run it again with network access",
            manifest.display(),
            workspace_lock(workspace).display()
        );
    }
    Ok(())
}

/// What to do about a cargo error from the kernel's offline configuration that says a crate is not on this
/// machine; `None` for other errors.
pub fn offline_hint(error: &str) -> Option<String> {
    const MISSING: [&str; 4] = [
        "--offline was specified",
        "no matching package named",
        "failed to download",
        "attempting to make an HTTP request",
    ];
    if !MISSING.iter().any(|m| error.contains(m)) {
        return None;
    }
    let workspace = crate::kernel::workspace_root();
    Some(format!(
        "The kernel runs cargo offline, and a crate it needs is not in the cargo home ({}). With network access, \
         run kernel/setup.sh, or `cargo fetch --locked` in {} (this fetches every crate of its Cargo.lock); \
         the kernel then works offline.",
        cargo_home().map_or_else(|| "$CARGO_HOME or ~/.cargo".into(), |p| p.display().to_string()),
        workspace.display()
    ))
}

/// The cargo home cargo uses: `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (name, version) of every package in a lock file.
    fn locked_versions(lock: &str) -> BTreeSet<(String, String)> {
        let (mut out, mut name) = (BTreeSet::new(), None);
        for line in lock.lines() {
            if let Some(v) = line.strip_prefix("name = ") {
                name = Some(v.trim_matches('"').to_string());
            } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
                out.insert((n, v.trim_matches('"').to_string()));
            }
        }
        out
    }

    fn temp_root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("prunelab-lock-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_slot_gets_the_workspace_lock_and_gets_it_back_when_it_changed() -> Result<()> {
        let workspace = crate::kernel::workspace_root();
        let wanted = std::fs::read_to_string(workspace_lock(&workspace))?;
        let root = temp_root("sync");
        let slot = crate::slot::Slot::acquire_in(&root)?;
        let lock = slot.dir().join("Cargo.lock");
        assert_eq!(std::fs::read_to_string(&lock)?, wanted);
        assert!(
            !sync(slot.dir(), &workspace)?,
            "an identical lock is left alone"
        );
        // What cargo leaves after a build (the packages the cell crate uses), or a lock resolved elsewhere.
        std::fs::write(&lock, "version = 4\n")?;
        drop(slot);
        let slot = crate::slot::Slot::acquire_in(&root)?;
        assert_eq!(
            std::fs::read_to_string(slot.dir().join("Cargo.lock"))?,
            wanted
        );
        drop(slot);
        std::fs::remove_dir_all(&root)?;
        Ok(())
    }

    /// The cell crate as evcxr writes it, with the kernel's `:dep`s, resolved by cargo offline in a slot: cargo
    /// must add nothing to the workspace's lock (no "Locking"/"Adding" line), and every version it keeps must be
    /// the workspace's. Fails when a kernel dependency (or a feature of one) needs a crate the workspace does
    /// not lock, which set-up would not fetch.
    #[test]
    fn the_cell_crate_resolves_to_the_workspace_versions_offline() -> Result<()> {
        let workspace = crate::kernel::workspace_root();
        let root = temp_root("resolve");
        std::fs::create_dir_all(&root)?;
        let slot = crate::slot::Slot::acquire_in(&root)?;
        let deps: Vec<String> = crate::kernel::init_evcxr_with(&workspace, true)
            .lines()
            .filter_map(|l| l.strip_prefix(":dep "))
            .map(str::to_string)
            .collect();
        assert!(deps.len() >= 4, "the kernel's :dep lines: {deps:?}");
        std::fs::create_dir_all(slot.dir().join("src"))?;
        std::fs::write(slot.dir().join("src/lib.rs"), "")?;
        std::fs::write(
            slot.dir().join("Cargo.toml"),
            format!(
                "[package]\nname = \"ctx\"\nversion = \"1.0.0\"\nedition = \"2024\"\n\n[lib]\n\
                 crate-type = [\"cdylib\"]\npath = \"src/lib.rs\"\n\n[dependencies]\n{}\n",
                deps.join("\n")
            ),
        )?;
        // `cargo tree` resolves as a build does and needs only this platform's crates, which the test build
        // itself fetched; evcxr's `cargo metadata` reads every platform's, which `cargo fetch --locked` adds.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["tree", "--offline", "--edges", "normal,build"])
            .current_dir(slot.dir())
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cargo tree failed:\n{stderr}");
        for line in stderr.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            assert!(
                !["Locking", "Adding", "Updating", "Downgrading"].contains(&first),
                "cargo resolved versions of its own for the cell crate:\n{stderr}"
            );
        }
        let ours = locked_versions(&std::fs::read_to_string(slot.dir().join("Cargo.lock"))?);
        let theirs = locked_versions(&std::fs::read_to_string(workspace_lock(&workspace))?);
        let foreign: Vec<_> = ours
            .difference(&theirs)
            .filter(|(name, _)| name != "ctx")
            .collect();
        assert!(
            foreign.is_empty(),
            "versions not in the workspace lock: {foreign:?}"
        );
        for wanted in ["prunelab-prelude", "ndarray", "plotters"] {
            assert!(
                ours.iter().any(|(name, _)| name == wanted),
                "{wanted} is not in the cell crate's lock: {ours:?}"
            );
        }
        drop(slot);
        std::fs::remove_dir_all(&root)?;
        Ok(())
    }

    #[test]
    fn a_missing_crate_offline_says_how_to_fetch_it() {
        let hint = offline_hint(
            "error: failed to download `bumpalo v3.20.4`\n\nCaused by:\n  attempting to make an HTTP request, \
             but --offline was specified",
        )
        .expect("a hint");
        assert!(hint.contains("kernel/setup.sh") && hint.contains("cargo fetch --locked"));
        assert!(offline_hint("error[E0425]: cannot find value `a` in this scope").is_none());
    }
}
