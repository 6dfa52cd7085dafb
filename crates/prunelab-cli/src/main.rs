//! `prunelab`: the Jupyter kernel for prunelab notebooks (evcxr with the prunelab prelude), its kernelspec
//! installer, a warm-up that fills evcxr's build cache, and the headless runner, checker and renderer of
//! notebooks.

mod cli;
mod compare;
mod highlight;
mod kernel;
mod lab;
mod lockfile;
mod notebook;
mod parent;
mod render;
mod runner;
mod session;
mod shared;
mod slot;
mod sweep;

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Parser;

use cli::{Cli, Command, DataCommand, KernelCommand, LabCommand, SimdArgs};

fn main() {
    // evcxr re-runs this binary as the process that executes cells; this must come first. That process
    // ignores SIGINT until prunelab's loops handle it (`prunelab::interrupt`): the kernel's stop button sends
    // SIGINT and kills only a cell still running a few seconds later.
    #[cfg(unix)]
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        // SAFETY: `SIG_IGN` installs no handler code (nothing that must be async-signal-safe), and this runs
        // first in `main`, before any other thread exists that could race on SIGINT's disposition.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    }
    evcxr::runtime_hook();
    if let Err(e) = dispatch() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let cli = Cli::parse();
    if cli.control_file.is_some() {
        // Each kernel builds in its own persistent folder, locked for as long as it runs.
        let slot = slot::Slot::acquire()?;
        slot.export();
        // A kernel whose Jupyter server was killed ends too (with the cell it was running).
        parent::watch();
        // The kernel answers while it starts; a start that fails (a crate missing from the cargo home)
        // is reported in the cells and on Jupyter's log with what to do about it.
        evcxr_jupyter::set_start_error_hint(lockfile::offline_hint);
        // evcxr_jupyter reads the connection file from the same command line.
        let served = evcxr_jupyter::main();
        drop(slot);
        // A failed start (Jupyter reports a dead kernel; this goes to its log) says what to do about a crate
        // missing from the cargo home.
        return served.map_err(|e| match lockfile::offline_hint(&format!("{e:#}")) {
            Some(hint) => e.context(hint),
            None => e,
        });
    }
    let Some(command) = cli.command else {
        bail!("no command: see prunelab --help");
    };
    match command {
        Command::Kernel(KernelCommand::Install(at)) => kernel::install(&at).map(|_| ()),
        Command::Kernel(KernelCommand::Uninstall(at)) => kernel::uninstall(&at),
        Command::Kernel(KernelCommand::Config { dir }) => {
            kernel::write_config(&dir, &kernel::workspace_root())
        }
        Command::Kernel(KernelCommand::Clean) => slot::clean(),
        Command::Warmup => warmup(),
        Command::Lab(LabCommand::Install { shared, prefix }) => {
            lab::install(&shared, &prefix, warmup)
        }
        Command::Data(DataCommand::Mnist { dir }) => data_mnist(dir),
        Command::Sweep(command) => sweep::main(command),
        // An unusable PRUNELAB_SIMD is reported before any notebook starts.
        Command::Run(args) => prunelab::kernels::active_family()
            .map_err(Into::into)
            .and_then(|_| runner::run(runner::RunOptions::run(args))),
        Command::Check(args) => prunelab::kernels::active_family()
            .map_err(Into::into)
            .and_then(|_| runner::check(runner::RunOptions::check(args))),
        Command::Simd(args) => simd(args),
        Command::Render(args) => render::render(args),
    }
}

/// `prunelab simd`: a line on the kernel families; `--list` the families this CPU runs, one per line;
/// `--active` the one in use. Fails where `PRUNELAB_SIMD` names a family this CPU lacks.
fn simd(args: SimdArgs) -> Result<()> {
    use prunelab::kernels;
    if args.list {
        for f in kernels::supported_families() {
            println!("{f}");
        }
    } else if args.active {
        println!("{}", kernels::active_family()?);
    } else {
        kernels::active_family()?;
        println!("{}", kernels::describe());
    }
    Ok(())
}

/// `prunelab data mnist [--dir DIR]`: MNIST from `PRUNELAB_MNIST_DIR`, or the cache (`DIR` or the default),
/// downloading and verifying what is missing; prints where it is and what it holds.
fn data_mnist(dir: Option<std::path::PathBuf>) -> Result<()> {
    use prunelab::data;
    let start = Instant::now();
    let from_env = std::env::var_os(data::MNIST_DIR_VAR).filter(|d| !d.is_empty());
    let (folder, (train, test)) = match (dir, from_env) {
        (None, Some(env_dir)) => {
            let folder = std::path::PathBuf::from(env_dir);
            let sets = data::mnist_dir(&folder)?;
            (
                format!("{} (from {})", folder.display(), data::MNIST_DIR_VAR),
                sets,
            )
        }
        (dir, _) => {
            let mut source = data::MnistSource::new();
            if let Some(d) = dir {
                source = source.dir(d);
            }
            let sets = source.load()?;
            (
                format!("{} (verified)", source.cache_dir()?.display()),
                sets,
            )
        }
    };
    println!("MNIST in {folder}");
    println!(
        "  train: {} images of {} pixels; test: {}; {:.1} s",
        train.n_samples(),
        train.n_features(),
        test.n_samples(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fetches the crates of the workspace's `Cargo.lock` (what the kernel compiles cells against, offline), then runs
/// the kernel's configuration and a few cells once on a headless session (in a kernel build folder, a slot, as a
/// kernel would), so the folder and evcxr's cache hold the compiled crates.
fn warmup() -> Result<()> {
    let start = Instant::now();
    // Every crate of the workspace's Cargo.lock, for every platform: the kernel then compiles offline.
    lockfile::fetch(&kernel::workspace_root())?;
    println!(
        "{:>8.2} s  crates of Cargo.lock in the cargo home (cargo fetch --locked)",
        start.elapsed().as_secs_f64()
    );
    let mut session = session::Session::start(false)?;
    println!(
        "{:>8.2} s  kernel configuration in {}",
        start.elapsed().as_secs_f64(),
        session.build_dir().display()
    );
    let cells = [
        "let a = array![[1.0f32, 2.0], [3.0, 4.0]];",
        "let model = Mlp::config(&[2, 3, 1]).build()?;",
        "model.n_weights() + 1",
        "let chart = LineChart::new(\"warm-up\").values(\"x\", &[1.0, 2.0]).draw()?; chart.png().len()",
    ];
    for cell in cells {
        let result = session.execute(cell, std::time::Duration::from_secs(600));
        if result.failed {
            bail!("warm-up cell `{cell}` failed: {:?}", result.outputs);
        }
        println!("{:>8.2} s  {cell}", result.seconds);
    }
    println!("warm-up done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
