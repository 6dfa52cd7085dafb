//! `prunelab run` and `prunelab check`: notebooks executed headlessly, cell by cell, on a fresh kernel session.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::compare::{compare_text, Findings, Tolerance};
use crate::notebook::{Notebook, Output};
use crate::session::Session;

/// Cell tag: the cell is expected to fail (nbclient's name); its error does not stop the run.
pub const TAG_RAISES: &str = "raises-exception";
/// Cell tag: `check` does not compare this cell's output (nbval's name), e.g. timings.
pub const TAG_IGNORE_OUTPUT: &str = "nbval-ignore-output";

/// Options shared by `run` and `check`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The notebooks, in order.
    pub notebooks: Vec<PathBuf>,
    /// Per-cell time limit.
    pub timeout: Duration,
    /// Go on after a failing cell (its error is stored in the notebook).
    pub allow_errors: bool,
    /// Print what cells write while they run.
    pub echo: bool,
    /// How `check` compares numbers in text outputs.
    pub tolerance: Tolerance,
}

impl RunOptions {
    /// The options of `prunelab run`.
    pub fn run(args: crate::cli::RunArgs) -> RunOptions {
        RunOptions {
            notebooks: args.notebooks.notebooks,
            timeout: Duration::from_secs(args.notebooks.timeout),
            allow_errors: args.allow_errors,
            echo: args.notebooks.echo,
            tolerance: Tolerance::default(),
        }
    }

    /// The options of `prunelab check`: exact unless `--rtol` (a failing cell is a finding, not a stop).
    pub fn check(args: crate::cli::CheckArgs) -> RunOptions {
        let mut tolerance = Tolerance::default();
        if let Some(r) = args.rtol {
            tolerance.relative = r;
        }
        tolerance.exact = args.rtol.is_none();
        RunOptions {
            notebooks: args.notebooks.notebooks,
            timeout: Duration::from_secs(args.notebooks.timeout),
            allow_errors: true,
            echo: args.notebooks.echo,
            tolerance,
        }
    }
}

/// One notebook's execution: the outputs per code cell (by cell index) and where it stopped.
pub struct Execution {
    /// (cell index, execution count, outputs, failed) for every executed code cell.
    pub cells: Vec<(usize, u64, Vec<Output>, bool)>,
    /// The first failure that stops the notebook: cell index and message.
    pub failure: Option<(usize, String)>,
    /// Wall time, kernel start included.
    pub seconds: f64,
}

/// The first line of a cell, shortened, for progress lines.
fn headline(source: &str) -> String {
    let line = source
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .unwrap_or("")
        .trim();
    if line.chars().count() > 70 {
        format!("{}…", line.chars().take(69).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The message of a failed cell's outputs.
fn failure_message(outputs: &[Output]) -> String {
    let mut msg = Vec::new();
    for o in outputs {
        match o {
            Output::Error {
                ename,
                evalue,
                traceback,
            } => {
                if traceback.is_empty() {
                    msg.push(format!("{ename}: {evalue}"));
                } else {
                    msg.push(format!("{ename}:\n{}", traceback.join("\n")));
                }
            }
            Output::Stream { name, text } if name == "stderr" => msg.push(text.clone()),
            _ => {}
        }
    }
    msg.join("\n")
}

/// Executes every code cell of `nb` on a fresh session, printing progress.
pub fn execute(path: &Path, nb: &Notebook, opts: &RunOptions) -> Result<Execution> {
    let start = Instant::now();
    let name = crate::notebook::stem(path);
    eprintln!("[{name}] starting the kernel");
    let mut session = Session::start(opts.echo)?;
    eprintln!(
        "[{name}] kernel ready in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let cells = nb.cells();
    let code: Vec<usize> = (0..cells.len())
        .filter(|&i| cells[i].kind() == "code")
        .collect();
    let mut exec = Execution {
        cells: Vec::new(),
        failure: None,
        seconds: 0.0,
    };
    for (k, &i) in code.iter().enumerate() {
        let cell = cells[i];
        let source = cell.source();
        if source.trim().is_empty() {
            exec.cells.push((i, 0, Vec::new(), false));
            continue;
        }
        let result = session.execute(&source, opts.timeout);
        let expected = cell.has_tag(TAG_RAISES);
        eprintln!(
            "[{name} {}/{}] {:>6.1} s  {}{}",
            k + 1,
            code.len(),
            result.seconds,
            headline(&source),
            match (result.failed, expected) {
                (true, true) => "  (failed, as its tag expects)",
                (true, false) => "  FAILED",
                (false, true) => "  (expected to fail, but did not)",
                (false, false) => "",
            }
        );
        let failed = result.failed && !expected;
        exec.cells
            .push((i, session.count(), result.outputs.clone(), failed));
        if failed && exec.failure.is_none() {
            exec.failure = Some((i, failure_message(&result.outputs)));
            if !opts.allow_errors {
                break;
            }
        }
    }
    exec.seconds = start.elapsed().as_secs_f64();
    Ok(exec)
}

/// `prunelab run`: executes notebooks and writes their outputs back.
pub fn run(opts: RunOptions) -> Result<()> {
    let mut times = Vec::new();
    for path in &opts.notebooks {
        let mut nb = Notebook::read(path)?;
        let exec = execute(path, &nb, &opts)?;
        if let (Some((cell, msg)), false) = (&exec.failure, opts.allow_errors) {
            bail!(
                "{}: cell {} failed (notebook left unchanged):\n{msg}",
                path.display(),
                cell + 1
            );
        }
        for (i, count, outputs, _) in &exec.cells {
            let count = (!outputs.is_empty() || *count > 0).then_some(*count);
            nb.set_outputs(*i, count, outputs);
        }
        nb.set_kernel_metadata();
        nb.write(path)?;
        eprintln!(
            "[{}] done in {:.1} s, outputs written",
            crate::notebook::stem(path),
            exec.seconds
        );
        times.push((path.clone(), exec.seconds, exec.failure.is_some()));
    }
    print_times(&times);
    Ok(())
}

fn print_times(times: &[(PathBuf, f64, bool)]) {
    println!("{:<44} {:>9}", "notebook", "wall time");
    for (path, secs, failed) in times {
        println!(
            "{:<44} {:>7.1} s{}",
            path.display(),
            secs,
            if *failed { "  (with errors)" } else { "" }
        );
    }
    println!(
        "{:<44} {:>7.1} s",
        "total",
        times.iter().map(|t| t.1).sum::<f64>()
    );
}

/// Differences between a cell's stored and fresh outputs, compared as text (images are not compared):
/// words exactly, numbers within `tol`.
pub fn compare(stored: &[Output], fresh: &[Output], tol: Tolerance) -> Findings {
    let texts = |outs: &[Output]| -> Vec<String> {
        outs.iter().filter_map(Output::comparable_text).collect()
    };
    let (a, b) = (texts(stored), texts(fresh));
    let mut found = Findings::default();
    if a.len() != b.len() {
        found
            .differs
            .push(format!("{} text outputs stored, {} now", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(&b) {
        let f = compare_text(x, y, tol);
        found.differs.extend(f.differs);
        found.tolerated.extend(f.tolerated);
    }
    found
}

/// `prunelab check`: re-executes notebooks and fails where a text output differs from the stored one.
pub fn check(opts: RunOptions) -> Result<()> {
    let mut problems = Vec::new();
    let mut tolerated = Vec::new();
    let mut times = Vec::new();
    for path in &opts.notebooks {
        let nb = Notebook::read(path)?;
        let exec = execute(path, &nb, &opts)?;
        let cells = nb.cells();
        let mut bad = 0;
        if let Some((cell, msg)) = &exec.failure {
            problems.push(format!(
                "{}: cell {} failed:\n{msg}",
                path.display(),
                cell + 1
            ));
            bad += 1;
        }
        for (i, _, fresh, _) in &exec.cells {
            let cell = cells[*i];
            if cell.has_tag(TAG_IGNORE_OUTPUT) {
                continue;
            }
            let found = compare(&cell.outputs()?, fresh, opts.tolerance);
            for note in &found.tolerated {
                tolerated.push(format!("{}: cell {}: {note}", path.display(), i + 1));
            }
            let diffs = found.differs;
            if !diffs.is_empty() {
                bad += 1;
                problems.push(format!(
                    "{}: cell {} ({}) output changed:\n    {}",
                    path.display(),
                    i + 1,
                    headline(&cell.source()),
                    diffs.join("\n    ")
                ));
            }
        }
        eprintln!(
            "[{}] {} in {:.1} s",
            crate::notebook::stem(path),
            if bad == 0 {
                "outputs match".to_string()
            } else {
                format!("{bad} cell(s) differ or fail")
            },
            exec.seconds
        );
        times.push((path.clone(), exec.seconds, bad > 0));
    }
    print_times(&times);
    if !tolerated.is_empty() {
        println!(
            "{} number(s) moved within the tolerance (relative {:e} or one unit in the last printed digit):",
            tolerated.len(),
            opts.tolerance.relative
        );
        for note in &tolerated {
            println!("  {note}");
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s):\n\n{}",
            problems.len(),
            problems.join("\n\n")
        );
    }
    println!("all {} notebook(s) reproduce their outputs", times.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(t: &str) -> Output {
        Output::Stream {
            name: "stdout".into(),
            text: t.into(),
        }
    }

    #[test]
    fn compare_reports_changed_and_missing_text_but_not_images() {
        let img = |b: &str| Output::Data {
            execution_count: Some(1),
            data: vec![("image/png".into(), b.into())],
            metadata: Default::default(),
        };
        let tol = Tolerance::default();
        let same = compare(
            &[stream("a\nb\n"), img("x")],
            &[stream("a\nb\n"), img("y")],
            tol,
        );
        assert_eq!(same, Findings::default());
        let d = compare(&[stream("a\nb\n")], &[stream("a\nc\n")], tol).differs;
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("line 2") && d[0].contains("c"), "{d:?}");
        assert_eq!(compare(&[stream("a")], &[], tol).differs.len(), 1);
        // Exact by default: one digit moved is a difference; with a tolerance it is reported, not failed.
        let moved = compare(&[stream("acc 0.9852\n")], &[stream("acc 0.9853\n")], tol);
        assert_eq!(moved.differs.len(), 1, "{moved:?}");
        let tolerant = Tolerance {
            exact: false,
            ..tol
        };
        let noise = compare(
            &[stream("acc 0.9852\n")],
            &[stream("acc 0.9853\n")],
            tolerant,
        );
        assert!(
            noise.differs.is_empty() && noise.tolerated.len() == 1,
            "{noise:?}"
        );
    }

    #[test]
    fn options_are_checked() {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let parse = |s: &[&str]| {
            Cli::try_parse_from(std::iter::once("prunelab").chain(s.iter().copied()))
                .map(|c| c.command.expect("a command"))
        };
        let run = |s: &[&str]| match parse(&[&["run"], s].concat()) {
            Ok(Command::Run(a)) => Ok(RunOptions::run(a)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let check = |s: &[&str]| match parse(&[&["check"], s].concat()) {
            Ok(Command::Check(a)) => Ok(RunOptions::check(a)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let o = run(&["a.ipynb", "--timeout", "30", "--allow-errors"]).unwrap();
        assert_eq!(o.timeout, Duration::from_secs(30));
        assert!(o.allow_errors);
        assert!(run(&["--timeout", "0", "a.ipynb"]).is_err());
        assert!(run(&["--frobnicate", "a.ipynb"]).is_err());
        assert!(run(&[]).is_err());
        assert!(check(&[]).is_err());
        // Exact by default and with --exact; --rtol compares numbers within a tolerance instead.
        assert!(check(&["a.ipynb"]).unwrap().tolerance.exact);
        assert!(check(&["a.ipynb", "--exact"]).unwrap().tolerance.exact);
        let o = check(&["a.ipynb", "--rtol", "0.01"]).unwrap();
        assert!(!o.tolerance.exact && o.tolerance.relative == 0.01);
        assert!(o.allow_errors, "check goes on past a failing cell");
        assert!(check(&["a.ipynb", "--exact", "--rtol", "0.01"]).is_err());
        assert!(check(&["a.ipynb", "--rtol", "-1"]).is_err());
        assert!(check(&["a.ipynb", "--rtol", "NaN"]).is_err());
    }
}
