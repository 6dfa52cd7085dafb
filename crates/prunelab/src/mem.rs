//! Memory budgets. Rust aborts the process when an allocation fails, and in a notebook an abort loses every
//! variable, so whatever a user sizes (a network, a sweep, a loaded file's claims) is checked against the
//! memory this process may still use before it is allocated; a request beyond it is [`Error::TooLarge`].
//!
//! ```
//! use prunelab::prelude::*;
//!
//! // Three million-wide layers want 8 TB of weights: an error that says so, not an abort.
//! let err = Mlp::config(&[1_000_000, 1_000_000, 1_000_000]).build().unwrap_err();
//! assert!(matches!(err, Error::TooLarge { .. }), "{err}");
//! ```

use crate::error::{Error, Result};

/// Requests below this size are not checked against the machine (reading the limits costs a few
/// microseconds; small allocations cannot exhaust a machine that runs a notebook).
const CHECK_FROM: u64 = 64 << 20;

/// The bytes this process may still allocate, as far as the platform tells: on Linux the smaller of
/// `MemAvailable + SwapFree` and the cgroup's remaining limit; `None` where unknown.
pub fn available() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::available()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `count` values of `elem_bytes` bytes each, in bytes; `u64::MAX` when that overflows.
pub(crate) fn bytes(count: usize, elem_bytes: usize) -> u64 {
    (count as u64).saturating_mul(elem_bytes as u64)
}

/// Fails with [`Error::TooLarge`] when `bytes` is more than this process may still allocate.
pub(crate) fn ensure(what: &'static str, bytes: u64) -> Result<()> {
    if bytes < CHECK_FROM {
        return Ok(());
    }
    let limit = available();
    // Without a known limit, refuse only what no machine has (and what would overflow `isize`).
    let cap = limit.unwrap_or(isize::MAX as u64 / 2);
    if bytes > cap {
        return Err(Error::TooLarge {
            what,
            bytes,
            available: limit,
        });
    }
    Ok(())
}

/// A vector of `n` copies of `value`, reserved fallibly after the budget check.
pub(crate) fn try_vec<T: Clone>(what: &'static str, n: usize, value: T) -> Result<Vec<T>> {
    let size = bytes(n, std::mem::size_of::<T>());
    ensure(what, size)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::TooLarge {
        what,
        bytes: size,
        available: available(),
    })?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(target_os = "linux")]
mod linux {
    /// A `Key:   123 kB` line of `/proc/meminfo`, in bytes.
    fn meminfo(text: &str, key: &str) -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    }

    fn read_u64(path: &str) -> Option<u64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// What the cgroup (v2, else v1) still allows, if it sets a limit.
    fn cgroup_room() -> Option<u64> {
        if let Some(max) = read_u64("/sys/fs/cgroup/memory.max") {
            let used = read_u64("/sys/fs/cgroup/memory.current").unwrap_or(0);
            return Some(max.saturating_sub(used));
        }
        let limit = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
        // v1 reports "no limit" as a huge number.
        if limit >= 1 << 60 {
            return None;
        }
        let used = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0);
        Some(limit.saturating_sub(used))
    }

    pub(super) fn available() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        let free =
            meminfo(&text, "MemAvailable")?.saturating_add(meminfo(&text, "SwapFree").unwrap_or(0));
        Some(cgroup_room().map_or(free, |room| room.min(free)))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn meminfo_lines_are_read_in_bytes() {
            let text = "MemTotal:       24000000 kB\nMemAvailable:   12345678 kB\nSwapFree:              0 kB\n";
            assert_eq!(
                super::meminfo(text, "MemAvailable"),
                Some(12_345_678 * 1024)
            );
            assert_eq!(super::meminfo(text, "SwapFree"), Some(0));
            assert_eq!(super::meminfo(text, "Missing"), None);
        }

        #[test]
        fn this_machine_reports_a_plausible_amount() {
            let a = super::available().expect("Linux reports its memory");
            assert!(a > 16 << 20, "{a}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_requests_are_too_large_and_small_ones_pass() {
        assert!(ensure("test", 1 << 20).is_ok());
        let err = ensure("test buffer", u64::MAX).unwrap_err();
        assert!(matches!(
            err,
            Error::TooLarge {
                what: "test buffer",
                ..
            }
        ));
        assert!(err.to_string().contains("test buffer"), "{err}");
        assert!(try_vec("test vector", usize::MAX / 2, 0u8).is_err());
        assert_eq!(try_vec("test vector", 3, 7u8).unwrap(), vec![7, 7, 7]);
        assert_eq!(bytes(usize::MAX, 8), u64::MAX);
    }
}
