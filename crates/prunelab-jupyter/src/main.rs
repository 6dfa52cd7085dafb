//! `prunelab`: the Jupyter kernel for prunelab notebooks (evcxr with the prunelab prelude), its kernelspec
//! installer, a warm-up that fills evcxr's build cache, and the headless runner, checker and renderer of
//! notebooks.

mod compare;
mod highlight;
mod jekyll;
mod kernel;
mod lab;
mod lockfile;
mod notebook;
mod render;
mod runner;
mod session;
mod shared;
mod slot;
mod sweep;

use std::time::Instant;

use anyhow::{anyhow, bail, Result};

const USAGE: &str = "\
prunelab — the prunelab notebook kernel

USAGE:
    prunelab kernel install [--user | --prefix PATH]   write the \"Rust (prunelab)\" kernelspec
    prunelab kernel uninstall [--user | --prefix PATH] remove it
    prunelab kernel config DIR                         write the kernel's evcxr configuration into DIR
    prunelab kernel clean                              remove the kernels' build folders (none in use)
    prunelab warmup                                    fetch the locked crates (cargo fetch --locked) and
                                                       compile the prelude once so the kernel starts fast
    prunelab lab install --shared DIR [--prefix PATH]  for a teaching lab (an administrator, once): compile
                                                       the prelude into DIR, readable by all, and write a
                                                       kernelspec (default prefix /usr/local) whose kernels
                                                       link their build folders to it instead of compiling
    prunelab run NOTEBOOK... [--timeout S] [--allow-errors] [--echo]
                                                       execute notebooks headlessly, write outputs back
    prunelab check NOTEBOOK... [--timeout S] [--echo] [--exact | --rtol R]
                                                       re-execute and fail where a text output changed
                                                       (exactly by default; --rtol R: numbers within R
                                                       relative, or one unit in the last printed digit)
    prunelab simd [--list | --active]                  the kernel families this CPU runs and the one in
                                                       use (PRUNELAB_SIMD=avx512|avx2|portable forces one)
    prunelab data mnist [--dir DIR]                    download (or find) MNIST, verify it, and say where
    prunelab render NOTEBOOK... --out DIR [--to jekyll|html] [--baseurl PREFIX]
                                                       render as posts of the Jekyll site DIR (_posts/,
                                                       assets/notebooks/), or as an HTML site
    prunelab --control_file FILE                       serve the Jupyter protocol (Jupyter runs this)

SWEEPS (a study in a TOML spec, run in one process or as the shards of a cluster job):
";

fn main() {
    // evcxr re-runs this binary as the process that executes cells; this must come first. That process
    // ignores SIGINT until prunelab's loops handle it (`prunelab::interrupt`): the kernel's stop button sends
    // SIGINT and kills only a cell still running a few seconds later.
    #[cfg(unix)]
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        // SAFETY: setting a signal's disposition to "ignore" before any other thread exists.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    }
    evcxr::runtime_hook();
    if let Err(e) = dispatch() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--control_file") => {
            // Each kernel builds in its own persistent folder, locked for as long as it runs.
            let slot = slot::Slot::acquire()?;
            slot.export();
            // The kernel answers while it starts; a start that fails (a crate missing from the cargo home)
            // is reported in the cells and on Jupyter's log with what to do about it.
            evcxr_jupyter::set_start_error_hint(lockfile::offline_hint);
            let served = evcxr_jupyter::main();
            drop(slot);
            // A failed start (Jupyter reports a dead kernel; this goes to its log) says what to do about a crate
            // missing from the cargo home.
            served.map_err(|e| match lockfile::offline_hint(&format!("{e:#}")) {
                Some(hint) => e.context(hint),
                None => e,
            })
        }
        Some("kernel") => match args.get(2).map(String::as_str) {
            Some("install") => kernel::install(&args[3..]).map(|_| ()),
            Some("uninstall") => kernel::uninstall(&args[3..]),
            Some("config") => {
                let dir = args
                    .get(3)
                    .ok_or_else(|| anyhow!("kernel config needs a folder"))?;
                kernel::write_config(std::path::Path::new(dir), &kernel::workspace_root())
            }
            Some("clean") => slot::clean(),
            _ => bail!("expected `kernel install`, `uninstall`, `config` or `clean`\n\n{USAGE}"),
        },
        Some("warmup") => warmup(),
        Some("lab") => match args.get(2).map(String::as_str) {
            Some("install") => lab::install(&args[3..], warmup),
            _ => bail!("expected `lab install --shared DIR [--prefix PATH]`\n\n{USAGE}"),
        },
        Some("data") => match args.get(2).map(String::as_str) {
            Some("mnist") => data_mnist(&args[3..]),
            _ => bail!("expected `data mnist`\n\n{USAGE}"),
        },
        Some("sweep") => sweep::main(&args[2..]),
        // An unusable PRUNELAB_SIMD is reported before any notebook starts.
        Some("run") => prunelab::kernels::active_family()
            .map_err(Into::into)
            .and_then(|_| runner::run(&args[2..])),
        Some("check") => prunelab::kernels::active_family()
            .map_err(Into::into)
            .and_then(|_| runner::check(&args[2..])),
        Some("simd") => simd(&args[2..]),
        Some("render") => render::render(&args[2..]),
        None | Some("help") | Some("--help") | Some("-h") => {
            print!("{USAGE}{}", sweep::USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// `prunelab data mnist [--dir DIR]`: MNIST from `PRUNELAB_MNIST_DIR`, or the cache (`DIR` or the default),
/// downloading and verifying what is missing; prints where it is and what it holds.
/// `prunelab simd`: a line on the kernel families; `--list` the families this CPU runs, one per line;
/// `--active` the one in use. Fails where `PRUNELAB_SIMD` names a family this CPU lacks.
fn simd(args: &[String]) -> Result<()> {
    use prunelab::kernels;
    match args.first().map(String::as_str) {
        None => {
            kernels::active_family()?;
            println!("{}", kernels::describe());
        }
        Some("--list") => {
            for f in kernels::supported_families() {
                println!("{f}");
            }
        }
        Some("--active") => println!("{}", kernels::active_family()?),
        Some(other) => bail!("unknown option {other}: prunelab simd [--list | --active]"),
    }
    Ok(())
}

fn data_mnist(args: &[String]) -> Result<()> {
    use prunelab::data;
    let mut dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = Some(it.next().ok_or_else(|| anyhow!("--dir needs a folder"))?),
            other => bail!("unknown argument {other:?} for `data mnist`"),
        }
    }
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
