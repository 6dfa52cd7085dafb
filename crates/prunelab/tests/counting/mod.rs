//! The counting allocator of the fuzz tests: the bytes live on each thread and their peak, so a case can be
//! held to an allocation bound; a single request above 1 GiB is refused, which aborts the test binary (the
//! failure the fuzz tests exist to catch).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes live on each thread and the peak since the last reset.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

const HARD_CAP: usize = 1 << 30;

// SAFETY: every method hands the caller's arguments unchanged to `System`, which meets `GlobalAlloc`'s
// contract, or refuses a request above `HARD_CAP` with null (a permitted failure); the bookkeeping
// only touches `const`-initialised thread-locals through `try_with`, so it neither allocates nor panics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: `layout` comes from the caller of `GlobalAlloc::alloc`, which guarantees a non-zero size;
        // it is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`: the caller's non-zero-size `layout`, passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every block of this allocator comes from `System` with the same layout (the caller passes
        // the layout it was allocated with), so `System` may free it.
        unsafe { System.dealloc(ptr, layout) };
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_CAP {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `dealloc`); the caller guarantees a
        // non-zero `new_size` that does not overflow when rounded to `layout`'s alignment.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
            grow(new_size);
        }
        p
    }
}

fn grow(n: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + n;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning its result and the most bytes it had allocated at once on this thread.
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(Cell::get).saturating_sub(base))
}

/// `PRUNELAB_FUZZ_CASES`, or `default` cases per target.
pub fn cases(default: u32) -> u32 {
    std::env::var("PRUNELAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
