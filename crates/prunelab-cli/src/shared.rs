//! One compile for a whole machine: a build folder made once by an administrator (`prunelab lab install
//! --shared DIR`), read-only, from which every kernel of every user fills a new slot of its own.
//!
//! A slot's `target` folder holds the compiled prelude crates (about 450 MB); a new slot used to compile them
//! again, or copy them out of evcxr's per-user cache (46 s and 530 MB per slot, plus 420 MB of cache per user).
//! Filled from the shared folder, the dependencies' files are symbolic links to it (no disk, no compile: cargo
//! finds them fresh, since nothing in their fingerprints names the folder they sit in, and it reads times and
//! contents through the links), and only the cell crate's own files, which each kernel rewrites, are copied.
//! (Not hard links: Linux's `fs.protected_hardlinks`, on by default, refuses a user a hard link to a file
//! another user owns.)

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The environment variable that names the shared build folder (a slot made by `prunelab lab install`); the
/// kernelspec that command writes sets it.
pub const SHARED_BUILD_ENV: &str = "PRUNELAB_SHARED_BUILD";

/// Files of a slot that belong to one kernel's session and are never taken from the shared folder: evcxr's
/// record of the last cell's rustc command (with the folder's absolute paths) and of its last library.
const SESSION_FILES: [&str; 2] = [".evcxr-rustc-command.json", ".evcxr-execution-so"];

/// The shared build folder named by [`SHARED_BUILD_ENV`], where it holds a compiled `target`.
pub fn shared_build() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(SHARED_BUILD_ENV)?);
    dir.join("target").is_dir().then_some(dir)
}

/// The folder of the `rustc` and `cargo` this process would run (the active toolchain's `bin`, resolved past
/// rustup's proxies) and the cargo home holding the locked crates (`CARGO_HOME`, or `~/.cargo`).
pub fn toolchain_and_cargo_home() -> Result<(PathBuf, PathBuf)> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    if !out.status.success() {
        anyhow::bail!(
            "rustc --print sysroot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => dirs::home_dir()
            .context("no home folder for the cargo home (set CARGO_HOME)")?
            .join(".cargo"),
    };
    Ok((
        sysroot.join("bin"),
        cargo_home
            .canonicalize()
            .with_context(|| format!("reading {}", cargo_home.display()))?,
    ))
}

/// How a slot was filled: files linked and copied, and their bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Filled {
    /// Files linked (symbolically) to the shared folder (no new disk).
    pub linked: u64,
    /// Files copied (the cell crate's own, or all where links are impossible).
    pub copied: u64,
    /// Bytes of the copied files.
    pub copied_bytes: u64,
}

/// Fills the empty slot `dir` from the shared build folder `shared` (an absolute path): the crate's set-up
/// files copied, the compiled dependencies linked (copied, with their times, where a link cannot be made),
/// the cell crate's own build files copied, incremental state left out.
pub fn fill_slot(shared: &Path, dir: &Path) -> Result<Filled> {
    let mut filled = Filled::default();
    for entry in read_dir(shared)? {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "target" || SESSION_FILES.contains(&name_str.as_ref()) {
            continue;
        }
        copy_tree(&entry.path(), &dir.join(&name), &mut filled, false)?;
    }
    copy_tree(
        &shared.join("target"),
        &dir.join("target"),
        &mut filled,
        true,
    )?;
    Ok(filled)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.with_context(|| format!("reading {}", dir.display())))
        .collect()
}

/// Whether a build file belongs to the cell crate (`ctx`), which every kernel rebuilds in place.
fn is_cell_crate_file(name: &str) -> bool {
    name.starts_with("ctx") || name.starts_with("libctx")
}

fn copy_tree(from: &Path, to: &Path, filled: &mut Filled, link: bool) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    let name = from
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(from).with_context(|| format!("reading {}", from.display()))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, to)
            .with_context(|| format!("creating {}", to.display()))?;
        return Ok(());
    }
    if meta.is_dir() {
        if name == "incremental" {
            return Ok(());
        }
        std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        let link = link && !is_cell_crate_file(&name);
        for entry in read_dir(from)? {
            copy_tree(&entry.path(), &to.join(entry.file_name()), filled, link)?;
        }
        return Ok(());
    }
    #[cfg(unix)]
    // Cargo's own files (`.cargo-lock`, which it opens for writing even when nothing is built, and
    // `.rustc_info.json`) are copied.
    if link
        && !is_cell_crate_file(&name)
        && !name.starts_with('.')
        && std::os::unix::fs::symlink(from, to).is_ok()
    {
        filled.linked += 1;
        return Ok(());
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    // Cargo compares modification times: a copy keeps its original's.
    if let Ok(modified) = meta.modified() {
        let _ = std::fs::File::options()
            .write(true)
            .open(to)
            .and_then(|f| f.set_modified(modified));
    }
    filled.copied += 1;
    filled.copied_bytes += meta.len();
    Ok(())
}

/// Makes `dir` and everything in it readable (and folders enterable) by every user, and not writable by
/// anyone but its owner.
pub fn make_readable(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode();
        let wanted = if meta.is_dir() || mode & 0o111 != 0 {
            (mode | 0o555) & !0o022
        } else {
            (mode | 0o444) & !0o022
        };
        if wanted != mode {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(wanted))
                .with_context(|| format!("setting the permissions of {}", dir.display()))?;
        }
        if meta.is_dir() {
            for entry in read_dir(dir)? {
                make_readable(&entry.path())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_a_slot_with_links_for_dependencies_and_copies_for_the_cell_crate() -> Result<()> {
        let root = tempfile::tempdir()?;
        let shared = root.path().join("shared");
        let deps = shared.join("target/x86_64-unknown-linux-gnu/debug/deps");
        std::fs::create_dir_all(&deps)?;
        std::fs::create_dir_all(
            shared.join("target/x86_64-unknown-linux-gnu/debug/incremental/ctx-1"),
        )?;
        std::fs::create_dir_all(
            shared.join("target/x86_64-unknown-linux-gnu/debug/.fingerprint/ctx-9"),
        )?;
        std::fs::create_dir_all(shared.join("src"))?;
        std::fs::write(shared.join("Cargo.toml"), "[package]\nname = \"ctx\"\n")?;
        std::fs::write(shared.join("src/lib.rs"), "")?;
        std::fs::write(shared.join(".evcxr-rustc-command.json"), "{}")?;
        std::fs::write(deps.join("libndarray-1.rlib"), vec![7u8; 1000])?;
        std::fs::write(deps.join("libctx-2.so"), vec![1u8; 10])?;
        std::fs::write(
            shared.join("target/x86_64-unknown-linux-gnu/debug/.cargo-lock"),
            "",
        )?;
        std::fs::write(
            shared.join("target/x86_64-unknown-linux-gnu/debug/.fingerprint/ctx-9/lib-ctx"),
            "x",
        )?;
        std::fs::write(
            shared.join("target/x86_64-unknown-linux-gnu/debug/incremental/ctx-1/s"),
            "x",
        )?;

        let slot = root.path().join("slot-0");
        std::fs::create_dir_all(&slot)?;
        let filled = fill_slot(&shared, &slot)?;

        let slot_deps = slot.join("target/x86_64-unknown-linux-gnu/debug/deps");
        assert_eq!(
            std::fs::read(slot_deps.join("libndarray-1.rlib"))?,
            vec![7u8; 1000]
        );
        assert_eq!(std::fs::read(slot_deps.join("libctx-2.so"))?, vec![1u8; 10]);
        assert!(slot.join("Cargo.toml").is_file() && slot.join("src/lib.rs").is_file());
        assert!(
            !slot.join(".evcxr-rustc-command.json").exists(),
            "a session file was taken"
        );
        assert!(!slot
            .join("target/x86_64-unknown-linux-gnu/debug/incremental")
            .exists());
        // The dependency is a link, the cell crate's files are copies: writing the slot's copy leaves the
        // shared folder's file as it was.
        #[cfg(unix)]
        {
            let link = std::fs::symlink_metadata(slot_deps.join("libndarray-1.rlib"))?;
            assert!(link.file_type().is_symlink());
            let copy = std::fs::symlink_metadata(slot_deps.join("libctx-2.so"))?;
            assert!(!copy.file_type().is_symlink());
            // The copy keeps its original's modification time (cargo compares them).
            assert_eq!(
                copy.modified()?,
                std::fs::metadata(deps.join("libctx-2.so"))?.modified()?
            );
        }
        std::fs::write(slot_deps.join("libctx-2.so"), b"new")?;
        assert_eq!(std::fs::read(deps.join("libctx-2.so"))?, vec![1u8; 10]);
        assert_eq!(filled.linked, 1);
        assert!(!std::fs::symlink_metadata(
            slot.join("target/x86_64-unknown-linux-gnu/debug/.cargo-lock")
        )?
        .file_type()
        .is_symlink());
        assert_eq!(filled.copied, 5); // Cargo.toml, src/lib.rs, libctx-2.so, the fingerprint, .cargo-lock
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn make_readable_opens_files_to_everyone_and_writes_to_none() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir()?;
        let file = root.path().join("a/b.rlib");
        std::fs::create_dir_all(file.parent().unwrap())?;
        std::fs::write(&file, "x")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o660))?;
        make_readable(root.path())?;
        assert_eq!(
            std::fs::metadata(&file)?.permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            std::fs::metadata(root.path().join("a"))?
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        Ok(())
    }
}
