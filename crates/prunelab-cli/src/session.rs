//! A headless kernel session: evcxr's `CommandContext` with the kernel's own configuration, its output
//! channels drained on their own threads, and a per-cell time limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::notebook::Output;

/// How long a timed-out cell has to stop by itself before its process is killed (as in the kernel).
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// Lines from one of evcxr's output channels, collected by a draining thread.
struct Drain {
    lines: Arc<Mutex<Vec<String>>>,
    rx: Receiver<String>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drain {
    /// Starts a thread that reads `rx` until it closes; with `echo`, lines are also printed as they come.
    fn start(rx: Receiver<String>, echo: Option<&'static str>) -> Drain {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (buf, thread_rx) = (Arc::clone(&lines), rx.clone());
        let handle = std::thread::spawn(move || loop {
            // The lock is held while receiving, so `take` (which waits for an empty channel and then for the
            // lock) never misses a line that was already taken off the channel.
            let mut guard = buf.lock().unwrap_or_else(|e| e.into_inner());
            match thread_rx.recv_timeout(Duration::from_millis(5)) {
                Ok(line) => {
                    if let Some(prefix) = echo {
                        eprintln!("{prefix}{line}");
                    }
                    guard.push(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    drop(guard);
                    std::thread::yield_now();
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        });
        Drain {
            lines,
            rx,
            handle: Some(handle),
        }
    }

    /// Everything received so far.
    fn take(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.rx.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What one cell produced.
#[derive(Debug, Clone)]
pub struct CellResult {
    /// nbformat outputs: stdout, stderr, the value (one per MIME type), or the error.
    pub outputs: Vec<Output>,
    /// Whether the cell failed: a compile error, a panic, a time-out, or an error returned by `?`.
    pub failed: bool,
    /// Wall time of the cell.
    pub seconds: f64,
}

/// A kernel session that executes cells in order, as the Jupyter kernel would.
pub struct Session {
    ctx: evcxr::CommandContext,
    stdout: Drain,
    stderr: Drain,
    config_dir: std::path::PathBuf,
    count: u64,
    // Dropped after `ctx` (fields drop in order): the build folder stays locked while evcxr uses it.
    slot: crate::slot::Slot,
}

impl Session {
    /// Starts evcxr with the prunelab kernel's configuration (`:dep`s of the workspace crates and the
    /// prelude), as `prunelab kernel install` writes it.
    pub fn start(echo: bool) -> Result<Session> {
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let config_dir = std::env::temp_dir().join(format!(
            "prunelab-session-{}-{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::SeqCst)
        ));
        crate::kernel::write_config(&config_dir, &crate::kernel::workspace_root())?;
        let slot = crate::slot::Slot::acquire()?;
        slot.export();
        // SAFETY: no other thread of this process reads the environment while the context starts.
        std::env::set_var("EVCXR_CONFIG_DIR", &config_dir);
        let (mut ctx, outputs) =
            evcxr::CommandContext::new().map_err(|e| anyhow!("starting evcxr: {e}"))?;
        let stdout = Drain::start(outputs.stdout, echo.then_some("    | "));
        let stderr = Drain::start(outputs.stderr, echo.then_some("    ! "));
        ctx.execute(":load_config --quiet").map_err(|e| {
            let details = format!("{e}\n{}", stderr.take().join("\n"));
            match crate::lockfile::offline_hint(&details) {
                Some(hint) => anyhow!("loading the kernel configuration failed: {details}\n{hint}"),
                None => anyhow!("loading the kernel configuration failed: {details}"),
            }
        })?;
        stdout.take();
        stderr.take();
        Ok(Session {
            ctx,
            stdout,
            stderr,
            config_dir,
            count: 0,
            slot,
        })
    }

    /// Executes one cell; a cell that runs past `timeout` is interrupted as Jupyter's stop button does it: it
    /// gets SIGINT (prunelab's loops stop with `Error::Interrupted`), and its process is killed if it still
    /// runs a few seconds later (evcxr restarts it for the next cell, losing variables).
    pub fn execute(&mut self, code: &str, timeout: Duration) -> CellResult {
        self.count += 1;
        let start = Instant::now();
        let timed_out = Arc::new(AtomicBool::new(false));
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watchdog = {
            let (process, executing, timed_out, done) = (
                self.ctx.process_handle(),
                self.ctx.execution_flag(),
                Arc::clone(&timed_out),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                let (lock, cvar) = &*done;
                let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, wait) = cvar
                    .wait_timeout_while(guard, timeout, |finished| !*finished)
                    .unwrap_or_else(|e| e.into_inner());
                if wait.timed_out() && !*guard {
                    timed_out.store(true, Ordering::SeqCst);
                    drop(guard);
                    let running = || !*lock.lock().unwrap_or_else(|e| e.into_inner());
                    evcxr::interrupt_process(&process, &executing, INTERRUPT_GRACE, running, || {});
                }
            })
        };
        let result = self.ctx.execute(code);
        {
            let (lock, cvar) = &*done;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            cvar.notify_all();
        }
        let _ = watchdog.join();
        // stderr comes through a pipe read by another thread; give it a moment to arrive.
        std::thread::sleep(Duration::from_millis(30));
        let mut outputs = Vec::new();
        let out = self.stdout.take();
        if !out.is_empty() {
            outputs.push(Output::Stream {
                name: "stdout".into(),
                text: stream_text(&out),
            });
        }
        let err = self.stderr.take();
        let wrote_stderr = !err.is_empty();
        if wrote_stderr {
            outputs.push(Output::Stream {
                name: "stderr".into(),
                text: stream_text(&err),
            });
        }
        let mut failed = wrote_stderr;
        match result {
            Ok(eval) => {
                if std::env::var_os("PRUNELAB_PHASES").is_some() {
                    // evcxr's phases of this cell (what `:timing` would sum), for latency work.
                    let phases: Vec<String> = eval
                        .phases
                        .iter()
                        .map(|p| format!("{} {:.3} s", p.name, p.duration.as_secs_f64()))
                        .collect();
                    eprintln!("    phases: {}", phases.join(", "));
                }
                let mut data: Vec<(String, String)> =
                    eval.content_by_mime_type.into_iter().collect();
                data.sort();
                if !data.is_empty() {
                    let metadata = eval
                        .metadata_by_mime_type
                        .into_iter()
                        .filter_map(|(mime, raw)| match serde_json::from_str(&raw) {
                            Ok(value @ serde_json::Value::Object(_)) => Some((mime, value)),
                            _ => None,
                        })
                        .collect();
                    outputs.push(Output::Data {
                        execution_count: Some(self.count),
                        data,
                        metadata,
                    });
                }
            }
            Err(e) => {
                failed = true;
                outputs.push(error_output(&e, timed_out.load(Ordering::SeqCst), timeout));
            }
        }
        if timed_out.load(Ordering::SeqCst) && !failed {
            // The cell stopped at the interrupt without an error of its own.
            failed = true;
            outputs.push(timeout_output(timeout));
        }
        CellResult {
            outputs,
            failed,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// The build folder (slot) this session compiles in.
    pub fn build_dir(&self) -> &std::path::Path {
        self.slot.dir()
    }

    /// The execution count of the last cell.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config_dir);
        // The draining threads end when evcxr drops its senders (the context goes with `self`).
        let _ = (self.stdout.handle.take(), self.stderr.handle.take());
    }
}

/// The nbformat error output of a cell that ran past its time limit.
fn timeout_output(timeout: Duration) -> Output {
    Output::Error {
        ename: "Timeout".into(),
        evalue: format!(
            "the cell ran past the time limit of {} s and was interrupted",
            timeout.as_secs()
        ),
        traceback: vec![],
    }
}

/// The nbformat error output for an evcxr error.
fn error_output(e: &evcxr::Error, timed_out: bool, timeout: Duration) -> Output {
    if timed_out {
        return timeout_output(timeout);
    }
    match e {
        evcxr::Error::CompilationErrors(errors) => {
            let first = errors
                .first()
                .map(|c| c.message())
                .unwrap_or_else(|| "compilation failed".into());
            let traceback = errors
                .iter()
                .flat_map(|c| c.rendered().lines().map(str::to_string).collect::<Vec<_>>())
                .collect();
            Output::Error {
                ename: "CompilationError".into(),
                evalue: first,
                traceback,
            }
        }
        evcxr::Error::SubprocessTerminated(m) => Output::Error {
            ename: "Panic".into(),
            evalue: m.clone(),
            traceback: m.lines().map(str::to_string).collect(),
        },
        other => Output::Error {
            ename: "Error".into(),
            evalue: other.to_string(),
            traceback: other.to_string().lines().map(str::to_string).collect(),
        },
    }
}

/// A stream's text from the pieces evcxr passes on: a piece is a line (its newline taken off) or a redraw
/// ended by a carriage return (kept); redraws collapse as the notebook shows them.
fn stream_text(pieces: &[String]) -> String {
    let mut text = String::new();
    for piece in pieces {
        text.push_str(piece);
        if !piece.ends_with('\r') {
            text.push('\n');
        }
    }
    let shown = crate::notebook::apply_carriage_returns(&text);
    if shown.ends_with('\n') {
        shown
    } else {
        shown + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::stream_text;

    #[test]
    fn redraws_join_without_newlines_and_collapse() {
        let pieces = ["\r", "[#--] 1\r", "[##-] 2\r", "[###] 3", "after"].map(String::from);
        assert_eq!(stream_text(&pieces), "[###] 3\nafter\n");
        assert_eq!(stream_text(&["x\r".to_string()]), "x\n");
        assert_eq!(stream_text(&["a".into(), "b".into()]), "a\nb\n");
    }
}
