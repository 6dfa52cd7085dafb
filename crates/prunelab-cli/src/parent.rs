//! The kernel ends with the Jupyter process that started it.
//!
//! Jupyter's client names itself in `JPY_PARENT_PID` when it starts a kernel (in a new session, so that the
//! kernel leads its own process group). A server that is killed (a hub culling it, an out-of-memory kill,
//! `kill -9`, a crashed papermill) sends no shutdown request, and its kernels would run on: holding memory,
//! their build slot, and whatever cell was running, with nothing left that can reach them. ipykernel
//! watches its parent the same way.

use std::time::Duration;

/// How often the kernel looks for its parent.
const EVERY: Duration = Duration::from_secs(1);

/// Starts a thread that ends this kernel once the process named by `JPY_PARENT_PID` is gone, and with it
/// every process of the kernel's process group where the kernel leads it (the process running cells, a
/// build). Nothing is watched where the variable is unset, not a process id, or names process 1 (which
/// never goes away).
pub fn watch() {
    #[cfg(unix)]
    {
        let Some(parent) = std::env::var("JPY_PARENT_PID")
            .ok()
            .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
            .filter(|&p| p > 1)
        else {
            return;
        };
        // SAFETY: `getppid` has no preconditions and cannot fail.
        let direct = unsafe { libc::getppid() } == parent;
        let spawned = std::thread::Builder::new()
            .name("parent-watch".into())
            .spawn(move || loop {
                std::thread::sleep(EVERY);
                if gone(parent, direct) {
                    end(parent);
                }
            });
        if let Err(e) = spawned {
            eprintln!("prunelab kernel: cannot watch the process that started it: {e}");
        }
    }
}

/// Whether `parent` has ended: where it started this process directly, this process was handed to
/// another parent; else no process has its id any more.
#[cfg(unix)]
fn gone(parent: libc::pid_t, direct: bool) -> bool {
    if direct {
        // SAFETY: as in `watch`.
        return unsafe { libc::getppid() } != parent;
    }
    // SAFETY: signal 0 sends nothing; `kill` only checks that the process exists.
    let alive = unsafe { libc::kill(parent, 0) } == 0;
    !alive && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Ends this kernel (and its process group where it leads it), saying why on its log.
#[cfg(unix)]
fn end(parent: libc::pid_t) -> ! {
    eprintln!(
        "prunelab kernel: the process that started it ({parent}) has ended, so the kernel ends too"
    );
    // SAFETY: `getpgrp` and `getpid` have no preconditions; `killpg(0, ..)` signals this process's own
    // group, which this process leads (checked), so it reaches only processes the kernel started.
    unsafe {
        if libc::getpgrp() == libc::getpid() {
            libc::killpg(0, libc::SIGTERM);
        }
    }
    std::process::exit(1)
}
