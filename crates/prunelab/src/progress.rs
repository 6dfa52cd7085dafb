//! Progress bars redrawn in place with carriage returns, as Jupyter and a terminal show them.
//!
//! A bar is drawn when it starts, at most ten times a second and a hundred times in all while it runs, and
//! always in its final state, ended by a newline: whatever the timing of the redraws in between, the line
//! a notebook keeps (Jupyter collapses the redraws) is the same on every run.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long work (training, sweeps, the lottery ticket) reports its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Progress {
    /// Nothing is printed.
    #[default]
    Silent,
    /// One line every this many epochs, points or rounds (and after the last).
    Every(usize),
    /// A progress bar redrawn in place (carriage return), finished by a newline.
    Bar,
}

impl Progress {
    /// Checks the setting: `Every(0)` is refused (a typed error naming `progress`).
    pub(crate) fn check(self) -> crate::Result<()> {
        if self == Progress::Every(0) {
            return Err(crate::Error::param("progress", "Every(n) needs n >= 1"));
        }
        Ok(())
    }
}

/// Width of the bar, in characters.
const WIDTH: usize = 30;
/// The shortest time between two redraws.
const REDRAW_GAP: Duration = Duration::from_millis(100);

/// One progress bar on standard output.
pub(crate) struct Bar {
    /// Where the bar is drawn (standard output; a buffer in tests).
    out: Box<dyn Write + Send>,
    /// Steps in all.
    total: usize,
    /// Redraws come only at multiples of this many steps (at most a hundred redraws).
    every: usize,
    /// When the bar was last drawn.
    drawn_at: Option<Instant>,
    /// Whether the bar's line has been ended.
    finished: bool,
}

impl Bar {
    /// A bar for `total` steps; nothing is drawn until the first [`Bar::update`].
    pub(crate) fn new(total: usize) -> Bar {
        Bar::to(total, Box::new(std::io::stdout()))
    }

    /// A bar for `total` steps drawn into `out`.
    fn to(total: usize, out: Box<dyn Write + Send>) -> Bar {
        Bar {
            out,
            total: total.max(1),
            every: (total / 100).max(1),
            drawn_at: None,
            finished: false,
        }
    }

    /// Steps `done` of the total: redraws the bar and `text` beside it when due (the first step, the last,
    /// and otherwise at most ten times a second). `text` is only built for a redraw.
    pub(crate) fn update(&mut self, done: usize, text: impl FnOnce() -> String) {
        if self.finished {
            return;
        }
        let due = done == 1
            || done >= self.total
            || (done.is_multiple_of(self.every)
                && self.drawn_at.is_none_or(|t| t.elapsed() >= REDRAW_GAP));
        if due {
            self.draw(done, &text());
            if done >= self.total {
                self.end_line();
            }
        }
    }

    /// Draws step `done` now and ends the line (a run that stops early: early stopping, an error, a stop
    /// request), so that what follows starts on a line of its own and the bar's last state is the true one.
    pub(crate) fn finish(&mut self, done: usize, text: &str) {
        if !self.finished {
            self.draw(done, text);
            self.end_line();
        }
    }

    fn draw(&mut self, done: usize, text: &str) {
        let _ = write!(self.out, "\r{}", line(done, self.total, text));
        let _ = self.out.flush();
        self.drawn_at = Some(Instant::now());
    }

    fn end_line(&mut self) {
        let _ = writeln!(self.out);
        let _ = self.out.flush();
        self.finished = true;
    }
}

impl Drop for Bar {
    /// A bar left by an early return (an error, a stop request) still ends its line.
    fn drop(&mut self) {
        if self.drawn_at.is_some() && !self.finished {
            self.end_line();
        }
    }
}

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bar")
            .field("total", &self.total)
            .field("finished", &self.finished)
            .finish()
    }
}

/// Progress over a count of items (sweep points, trainings) finished in any order, on any thread: a line
/// per `k` items with [`Progress::Every`], a [`Bar`] with [`Progress::Bar`].
#[derive(Debug)]
pub(crate) struct Counter {
    mode: Progress,
    total: usize,
    what: &'static str,
    done: AtomicUsize,
    bar: Mutex<Option<Bar>>,
}

impl Counter {
    /// Progress over `total` items, called `what` in its lines ("points", "trainings").
    pub(crate) fn new(mode: Progress, total: usize, what: &'static str) -> Counter {
        Counter {
            mode,
            total,
            what,
            done: AtomicUsize::new(0),
            bar: Mutex::new((mode == Progress::Bar).then(|| Bar::new(total))),
        }
    }

    /// One more item finished. Items may finish in any order, so the lines name only the count: the last
    /// one is the same on every run.
    pub(crate) fn tick(&self) {
        let text = |done: usize| format!("{done}/{} {}", self.total, self.what);
        match self.mode {
            Progress::Silent => {}
            Progress::Every(k) => {
                let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
                if done.is_multiple_of(k.max(1)) || done == self.total {
                    println!("{}", text(done));
                }
            }
            Progress::Bar => {
                // The count is taken under the lock, so redraws never go backwards.
                let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
                let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(bar) = bar.as_mut() {
                    bar.update(done, || text(done));
                }
            }
        }
    }
}

/// The bar's line: `[#####-----] text`, filled in proportion to `done / total`.
fn line(done: usize, total: usize, text: &str) -> String {
    let total = total.max(1);
    let filled = WIDTH * done.min(total) / total;
    format!(
        "[{}{}] {text}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_fills_in_proportion_and_never_overflows() {
        assert_eq!(line(0, 10, "x"), format!("[{}] x", "-".repeat(WIDTH)));
        assert_eq!(
            line(5, 10, "half"),
            format!("[{}{}] half", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(line(12, 10, ""), format!("[{}] ", "#".repeat(WIDTH)));
        assert_eq!(line(1, 0, ""), format!("[{}] ", "#".repeat(WIDTH)));
    }

    /// A buffer the tests read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_bar_draws_its_first_and_final_state_and_few_in_between() {
        let out = Shared::default();
        let mut bar = Bar::to(100_000, Box::new(out.clone()));
        for done in 1..=100_000 {
            bar.update(done, || format!("step {done}"));
        }
        let text = out.text();
        let redraws: Vec<&str> = text.split('\r').filter(|s| !s.is_empty()).collect();
        assert!(redraws[0].ends_with("] step 1"), "{:?}", redraws[0]);
        assert_eq!(
            *redraws.last().unwrap(),
            format!("[{}] step 100000\n", "#".repeat(WIDTH))
        );
        // At most a hundred redraws (one per 1000 steps) and the two ends, however fast the loop.
        assert!(redraws.len() <= 102, "{} redraws", redraws.len());
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
    }

    #[test]
    fn an_early_stop_shows_the_true_last_state_and_ends_the_line_once() {
        let out = Shared::default();
        {
            let mut bar = Bar::to(10, Box::new(out.clone()));
            bar.update(1, || "one".into());
            bar.finish(4, "stopped at 4");
        }
        let text = out.text();
        assert!(text.ends_with("] stopped at 4\n"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1);
        // A bar dropped while drawn (an error, a stop request) still ends its line.
        let out = Shared::default();
        {
            let mut bar = Bar::to(10, Box::new(out.clone()));
            bar.update(1, || "one".into());
        }
        assert!(out.text().ends_with("one\n"));
    }

    #[test]
    fn a_finished_bar_draws_no_more() {
        let mut bar = Bar::to(3, Box::new(Shared::default()));
        bar.update(1, || "one".into());
        bar.finish(2, "stopped");
        assert!(bar.finished);
        let drawn = bar.drawn_at;
        bar.update(3, || unreachable!("no redraw after the line ended"));
        assert_eq!(bar.drawn_at, drawn);
    }
}
