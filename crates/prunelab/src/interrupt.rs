//! Stopping long computations from outside, with the work done so far kept.
//!
//! Training, sweeps, pruning schedules and the lottery ticket check for an interrupt between steps and return
//! [`Error::Interrupted`] naming where they stopped; the model keeps the weights of the last completed step.
//! In a notebook the interrupt is Jupyter's stop button: in the prunelab kernel's cell process (evcxr's
//! runtime) a `SIGINT` handler is installed when this library is loaded, and the kernel sends `SIGINT` instead
//! of killing the process, so every variable survives. Elsewhere nothing is installed; a program (or another thread) asks
//! for a stop with [`request`].
//!
//! ```
//! use prunelab::prelude::*;
//!
//! let train = data::xor();
//! let mut model = Mlp::config(&[2, 4, 1]).output_activation(Activation::Sigmoid).seed(1).build()?;
//! prunelab::interrupt::request(); // as if the stop button was pressed
//! let err = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01)).epochs(10).fit(&mut model, &train);
//! assert!(matches!(err, Err(Error::Interrupted { .. })));
//! // The request was consumed: the next call runs to the end.
//! TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01)).epochs(10).fit(&mut model, &train)?;
//! # Ok::<(), prunelab::Error>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// When the pending interrupt arrived, in nanoseconds after [`anchor`] plus one; 0 when none is pending.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// An interrupt older than this was not for the computation now checking: the kernel signals a cell only while
/// its code runs, and kills it 3 s later, so an interrupt still pending after this long was for a cell that
/// finished by itself in the meantime.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// The clock origin of [`PENDING`], set before any handler can run.
fn anchor() -> &'static Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now)
}

/// Marks an interrupt as pending. Async-signal-safe once [`anchor`] is initialised (a clock read and an
/// atomic store).
fn mark_pending() {
    let now = anchor().elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
    PENDING.store(now + 1, Ordering::SeqCst);
}

/// Asks the running (or the next) long computation to stop at its next check, as Jupyter's stop button does.
pub fn request() {
    mark_pending();
}

/// Withdraws a pending request, if any.
pub fn clear() {
    PENDING.store(0, Ordering::SeqCst);
}

/// Whether a request is pending (and not stale).
pub fn is_pending() -> bool {
    fresh(PENDING.load(Ordering::SeqCst))
}

fn fresh(stamp: u64) -> bool {
    fresh_at(stamp, anchor().elapsed())
}

/// Whether an interrupt stamped `stamp` is pending and not stale at `now` (both after [`anchor`]).
fn fresh_at(stamp: u64, now: Duration) -> bool {
    stamp != 0 && now.saturating_sub(Duration::from_nanos(stamp - 1)) < STALE_AFTER
}

/// Installs the handler as soon as the library is loaded into a cell process, before any cell can be
/// interrupted.
// `unsafe` acknowledges that this runs before `main`: `install` only initialises two `OnceLock`s, reads an
// environment variable and registers a signal handler, none of which needs the runtime that `main` sets up.
#[cfg(unix)]
#[ctor::ctor(unsafe)]
fn install_on_load() {
    install();
}

/// Installs the `SIGINT` handler once, when running inside a notebook cell (evcxr's cell process).
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        anchor();
        #[cfg(unix)]
        if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
            // SAFETY: `register` needs an async-signal-safe action: `mark_pending` reads `anchor()`, which
            // was initialised just above (so the handler's `OnceLock` read is an atomic load, never an
            // initialisation), reads the monotonic clock (`clock_gettime`) and stores to an atomic.
            let registered = unsafe { signal_hook_registry::register(libc::SIGINT, mark_pending) };
            if let Err(e) = registered {
                eprintln!("prunelab: the stop button will kill this cell (no SIGINT handler: {e})");
            }
        }
    });
}

/// Fails with [`Error::Interrupted`] when an interrupt is pending, consuming it; `what` names the computation
/// and `at(..)` where it stopped. Long loops call this between steps; user code may call [`check`].
pub(crate) fn checkpoint(what: &'static str, at: impl FnOnce() -> String) -> Result<()> {
    install();
    let stamp = PENDING.load(Ordering::Relaxed);
    if stamp == 0 {
        return Ok(());
    }
    let stamp = PENDING.swap(0, Ordering::SeqCst);
    if fresh(stamp) {
        Err(Error::Interrupted { what, at: at() })
    } else {
        Ok(())
    }
}

/// Names the outer computation in an [`Error::Interrupted`] that came from an inner one (a round's training);
/// other errors pass unchanged.
pub(crate) fn within(e: Error, what: &'static str, at: impl FnOnce() -> String) -> Error {
    match e {
        Error::Interrupted {
            what: inner,
            at: inner_at,
        } => Error::Interrupted {
            what,
            at: format!("{} ({inner} stopped {inner_at})", at()),
        },
        other => other,
    }
}

/// For loops in user code: `prunelab::interrupt::check()?` inside the loop lets the stop button end it with
/// [`Error::Interrupted`] instead of killing the cell's process.
pub fn check() -> Result<()> {
    checkpoint("a loop in the cell", || {
        "at `interrupt::check()`".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pending flag is process-wide, and unit tests run in parallel with training tests, so requests
    // themselves are tested in `tests/interrupt.rs` (its own process); here only the clock logic.
    #[test]
    fn requests_go_stale() {
        let arrived = Duration::from_secs(5);
        let stamp = arrived.as_nanos() as u64 + 1;
        assert!(!fresh_at(0, arrived), "0 is no request");
        assert!(fresh_at(stamp, arrived));
        assert!(fresh_at(
            stamp,
            arrived + STALE_AFTER - Duration::from_millis(1)
        ));
        assert!(!fresh_at(stamp, arrived + STALE_AFTER));
        // A request stamped after `now` (a racing handler) counts as fresh.
        assert!(fresh_at(stamp, Duration::from_secs(1)));
    }
}
