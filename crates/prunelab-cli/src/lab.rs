//! `prunelab lab install --shared DIR [--prefix PATH]`: set-up for a machine that many users share (a teaching
//! lab, a JupyterHub). Compiles the prelude's crates once into `DIR`, readable by everyone, and writes a
//! kernelspec whose kernels fill their own build folders from it by symbolic links (see [`crate::shared`]).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

/// Runs the command; `warmup` compiles the prelude into the build folder that `PRUNELAB_KERNEL_DIR` names.
pub fn install(shared: &Path, prefix: &Path, warmup: fn() -> Result<()>) -> Result<()> {
    let start = Instant::now();
    let build_root = shared.join("build");
    std::fs::create_dir_all(&build_root)
        .with_context(|| format!("creating {}", build_root.display()))?;
    let build_root = build_root.canonicalize()?;
    // SAFETY (of set_var/remove_var): the command runs on the main thread before any other thread starts.
    std::env::set_var("PRUNELAB_KERNEL_DIR", &build_root);
    std::env::remove_var(crate::shared::SHARED_BUILD_ENV);
    warmup()?;
    let build = build_root.join("slot-0");
    crate::shared::make_readable(shared)?;
    let at = crate::cli::SpecLocation {
        user: false,
        prefix: Some(prefix.to_path_buf()),
    };
    let spec = crate::kernel::install_with(&at, Some(&build))?;
    crate::shared::make_readable(&spec)?;
    let size = du_mb(shared);
    println!(
        "shared build in {} ({size} MB), readable by every user; made in {:.0} s",
        build.display(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "each kernel now fills its own build folder (in the user's cache) from it with symbolic links: no compile, \
         a few MB of disk per kernel"
    );
    Ok(())
}

/// Disk used under `dir` in MB (by `du`; 0 where it cannot say).
fn du_mb(dir: &std::path::Path) -> u64 {
    std::process::Command::new("du")
        .arg("-sm")
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}
