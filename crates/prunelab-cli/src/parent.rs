//! The kernel ends with the Jupyter process that started it.
//!
//! Jupyter's client names itself in `JPY_PARENT_PID` when it starts a kernel (in a new session, so that the
//! kernel leads its own process group). A server that is killed (a hub culling it, an out-of-memory kill,
//! `kill -9`, a crashed papermill) sends no shutdown request, and its kernels would run on: holding memory,
//! their build slot, and whatever cell was running, with nothing left that can reach them. ipykernel polls
//! its parent process the same way.

/// Starts a thread that ends this kernel once the process that started it is gone, and with it the
/// processes the kernel started (the process running cells, a build). Only where Jupyter started it
/// (`JPY_PARENT_PID` names a process other than 1): the kernel then watches its own parent process, the one
/// it had at start (Jupyter's, or a wrapper between them), and ends when it is handed to another.
pub fn watch() {
    #[cfg(unix)]
    {
        use std::time::Duration;

        let from_jupyter = std::env::var("JPY_PARENT_PID")
            .ok()
            .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
            .is_some_and(|p| p > 1);
        // SAFETY: `getppid` has no preconditions and cannot fail.
        let parent = unsafe { libc::getppid() };
        // A parent of 1 at start (already handed to init) cannot be told from one that ends later.
        if !from_jupyter || parent <= 1 {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("parent-watch".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                // SAFETY: as above.
                if unsafe { libc::getppid() } != parent {
                    end(parent);
                }
            });
        if let Err(e) = spawned {
            say(&format!("cannot watch the process that started it: {e}"));
        }
    }
}

/// Writes a line to the kernel's log (its standard error), ignoring a log that is gone: the server that
/// read it may be what ended.
#[cfg(unix)]
fn say(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "prunelab kernel: {what}");
}

/// Ends this kernel and the processes it started, saying why on its log: its whole process group where it
/// leads one (as Jupyter starts it), else its own child processes.
#[cfg(unix)]
fn end(parent: libc::pid_t) -> ! {
    say(&format!(
        "the process that started it ({parent}) has ended, so the kernel ends too"
    ));
    // SAFETY: ignoring SIGTERM installs no handler code; `getpgrp` and `getpid` have no preconditions;
    // `killpg(0, ..)` signals this process's own group, which this process leads (checked), so the processes
    // it reaches are the kernel's and their descendants; `kill` signals the listed children of this process;
    // `_exit` ends the process without running exit handlers while other threads run.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        if libc::getpgrp() == libc::getpid() {
            libc::killpg(0, libc::SIGTERM);
        } else {
            for child in children(libc::getpid()) {
                libc::kill(child, libc::SIGTERM);
            }
        }
        libc::_exit(1)
    }
}

/// The processes whose parent is `pid`, from `/proc` (none where it cannot be read).
#[cfg(unix)]
fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&p| {
            // `pid (comm) state ppid ...`: the name may hold spaces and parentheses, so the fields are read
            // after the last ')'.
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.get(s.rfind(')')? + 1..)?;
                    rest.split_whitespace().nth(1)?.parse::<libc::pid_t>().ok()
                })
                == Some(pid)
        })
        .collect()
}
