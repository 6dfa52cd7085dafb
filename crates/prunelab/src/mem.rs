//! Memory budgets. Rust aborts the process when an allocation fails, and in a notebook an abort loses every
//! variable, so whatever a user sizes (a network, a sweep, a loaded file's claims) is checked against the
//! memory this process may still use before it is allocated, and then reserved fallibly; a request beyond
//! it is [`Error::TooLarge`], which names the limit that bound it ([`Bound`]). The budget ([`budget`]) is
//! the least of the machine's free memory, the cgroup's limit and the process's own limits (`ulimit -v`,
//! `ulimit -d`), as teaching servers and batch schedulers set them.
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

/// What sets a [`Budget`]: the limit with the least room left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The machine: `MemAvailable + SwapFree` from `/proc/meminfo`.
    Machine,
    /// The cgroup's memory limit (`memory.max`, or v1's `memory.limit_in_bytes`) less what it uses.
    Cgroup,
    /// The process's address-space limit (`ulimit -v`) less its current address-space size (`VmSize`).
    AddressSpace,
    /// The process's data-segment limit (`ulimit -d`; on Linux it covers heap and private mappings) less
    /// its current data size (`VmData`).
    DataSegment,
}

impl Bound {
    /// The limit's name as a user would look it up, e.g. `RLIMIT_AS (ulimit -v)`.
    pub fn name(self) -> &'static str {
        match self {
            Bound::Machine => "the machine's available memory",
            Bound::Cgroup => "the cgroup's memory limit",
            Bound::AddressSpace => "RLIMIT_AS (ulimit -v)",
            Bound::DataSegment => "RLIMIT_DATA (ulimit -d)",
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bytes this process may still allocate and the limit that sets that amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The bytes this process may still allocate.
    pub bytes: u64,
    /// The limit with the least room, which `bytes` is.
    pub bound: Bound,
}

/// The memory this process may still allocate and which limit sets it: on Linux the least of
/// `MemAvailable + SwapFree`, the cgroup's remaining limit, RLIMIT_AS (`ulimit -v`) less the process's
/// address-space size and RLIMIT_DATA (`ulimit -d`) less its data size; `None` where unknown.
pub fn budget() -> Option<Budget> {
    #[cfg(target_os = "linux")]
    {
        linux::budget()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The bytes this process may still allocate, as far as the platform tells: [`budget`]'s amount (on
/// Linux the least of the machine's, the cgroup's and the process's own limits); `None` where unknown.
pub fn available() -> Option<u64> {
    budget().map(|b| b.bytes)
}

/// `count` values of `elem_bytes` bytes each, in bytes; `u64::MAX` when that overflows.
pub(crate) fn bytes(count: usize, elem_bytes: usize) -> u64 {
    (count as u64).saturating_mul(elem_bytes as u64)
}

/// The error for `bytes` of `what` that cannot be had, with the budget as it stands now.
fn too_large(what: &'static str, bytes: u64, budget: Option<Budget>) -> Error {
    Error::TooLarge {
        what,
        bytes,
        available: budget.map(|b| b.bytes),
        bound: budget.map(|b| b.bound.name()),
    }
}

/// Fails with [`Error::TooLarge`] (naming the limit that binds) when `bytes` is more than this process may
/// still allocate.
pub(crate) fn ensure(what: &'static str, bytes: u64) -> Result<()> {
    if bytes < CHECK_FROM {
        return Ok(());
    }
    let budget = budget();
    // Without a known limit, refuse only what no machine has (and what would overflow `isize`).
    let cap = budget.map_or(isize::MAX as u64 / 2, |b| b.bytes);
    if bytes > cap {
        return Err(too_large(what, bytes, budget));
    }
    Ok(())
}

/// An empty vector with room for `n` values, reserved fallibly after the budget check: a refused
/// reservation is [`Error::TooLarge`], not an abort.
pub(crate) fn try_with_capacity<T>(what: &'static str, n: usize) -> Result<Vec<T>> {
    let size = bytes(n, std::mem::size_of::<T>());
    ensure(what, size)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| too_large(what, size, budget()))?;
    Ok(v)
}

/// A vector of `n` copies of `value`, reserved fallibly after the budget check.
pub(crate) fn try_vec<T: Clone>(what: &'static str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = try_with_capacity(what, n)?;
    v.resize(n, value);
    Ok(v)
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Bound, Budget};

    /// A `Key:   123 kB` line of `/proc/meminfo` (or `/proc/self/status`), in bytes.
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

    /// The soft limit on the address space (`ulimit -v`) or else the data segment (`ulimit -d`), in bytes;
    /// `None` when unlimited.
    fn rlimit(address_space: bool) -> Option<u64> {
        let resource = if address_space {
            libc::RLIMIT_AS
        } else {
            libc::RLIMIT_DATA
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` only writes the `rlimit` it is given, which is a valid, exclusively borrowed
        // local for the whole call; `resource` is one of libc's RLIMIT_* constants.
        let rc = unsafe { libc::getrlimit(resource, &mut limit) };
        // `rlim_t` is 32 bits on some 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        let soft = limit.rlim_cur as u64;
        (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(soft)
    }

    /// The least room among `bounds` (each a limit with what is used of it), the first on a tie.
    pub(super) fn tightest(bounds: impl IntoIterator<Item = (u64, Bound)>) -> Option<Budget> {
        bounds
            .into_iter()
            .map(|(bytes, bound)| Budget { bytes, bound })
            .reduce(|a, b| if b.bytes < a.bytes { b } else { a })
    }

    pub(super) fn budget() -> Option<Budget> {
        let mut bounds = Vec::with_capacity(4);
        if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
            if let Some(avail) = meminfo(&text, "MemAvailable") {
                let free = avail.saturating_add(meminfo(&text, "SwapFree").unwrap_or(0));
                bounds.push((free, Bound::Machine));
            }
        }
        if let Some(room) = cgroup_room() {
            bounds.push((room, Bound::Cgroup));
        }
        // The process's own limits count what it already has mapped (`VmSize`) or in its data segment
        // (`VmData`); without the status file, as if nothing were.
        let as_limit = rlimit(true);
        let data_limit = rlimit(false);
        if as_limit.is_some() || data_limit.is_some() {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            if let Some(limit) = as_limit {
                let used = meminfo(&status, "VmSize").unwrap_or(0);
                bounds.push((limit.saturating_sub(used), Bound::AddressSpace));
            }
            if let Some(limit) = data_limit {
                let used = meminfo(&status, "VmData").unwrap_or(0);
                bounds.push((limit.saturating_sub(used), Bound::DataSegment));
            }
        }
        tightest(bounds)
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
            let b = super::budget().expect("Linux reports its memory");
            assert!(b.bytes > 16 << 20, "{b:?}");
        }

        #[test]
        fn status_lines_are_read_in_bytes() {
            let status = "Name:\tprunelab\nVmPeak:\t  20000 kB\nVmSize:\t   12000 kB\nVmData:\t    3000 kB\n";
            assert_eq!(super::meminfo(status, "VmSize"), Some(12_000 * 1024));
            assert_eq!(super::meminfo(status, "VmData"), Some(3_000 * 1024));
        }

        #[test]
        fn the_tightest_limit_sets_the_budget_and_is_named() {
            use super::{tightest, Bound, Budget};
            assert_eq!(tightest([]), None);
            let b = tightest([
                (24 << 30, Bound::Machine),
                (8 << 30, Bound::Cgroup),
                (3 << 30, Bound::AddressSpace),
                (5 << 30, Bound::DataSegment),
            ]);
            assert_eq!(
                b,
                Some(Budget {
                    bytes: 3 << 30,
                    bound: Bound::AddressSpace
                })
            );
            assert_eq!(Bound::AddressSpace.to_string(), "RLIMIT_AS (ulimit -v)");
            assert_eq!(Bound::DataSegment.to_string(), "RLIMIT_DATA (ulimit -d)");
            // A tie keeps the first (the machine's own memory before a limit that merely equals it).
            let tie = tightest([(1, Bound::Machine), (1, Bound::DataSegment)]).unwrap();
            assert_eq!(tie.bound, Bound::Machine);
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
