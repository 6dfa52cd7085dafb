//! The memory budget honours the process's own limits (`ulimit -v` / RLIMIT_AS and `ulimit -d` /
//! RLIMIT_DATA), as teaching servers and batch schedulers set them: a network larger than the limit is
//! `Error::TooLarge` naming the limit, never an abort. Each case runs in a child process (this test binary
//! again, under `bash -c 'ulimit ...; exec ...'`), so the lowered limit touches nothing else and an abort
//! shows as the child's exit status.
#![cfg(target_os = "linux")]

use std::process::Command;

use prunelab::prelude::*;

/// Set in the child: which case [`child`] runs.
const CASE_VAR: &str = "PRUNELAB_MEM_LIMITS_CASE";

/// The lowered limit, in kB as `ulimit` takes it: 4 GB.
const LIMIT_KB: u64 = 4_000_000;

/// Runs `case` in a child, under `ulimit -S <flag> LIMIT_KB` when `flag` is given; returns its stdout and
/// stderr after checking that it exited normally and ran the case.
fn run_child(flag: Option<&str>, case: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    // `timeout`: a child that hangs (a panic whose backtrace runs out of memory can deadlock) fails the test.
    let mut command = Command::new("timeout");
    command.arg("120");
    match flag {
        Some(flag) => {
            command
                .arg("bash")
                .arg("-c")
                .arg(r#"ulimit -S "$1" "$2" || exit 97; shift 2; exec "$0" "$@""#)
                .arg(&exe)
                .args([flag, &LIMIT_KB.to_string()]);
        }
        None => {
            command.arg(&exe);
        }
    }
    let out = command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CASE_VAR, case)
        // One glibc malloc arena, grown with `brk`: a thread's arena reserves 64 MB of address space up
        // front, which would serve small requests past the `init` case's lowered limit.
        .env("MALLOC_ARENA_MAX", "1")
        // No backtrace on a failed assertion: symbolising one needs memory the child may not have.
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child starts");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("memory allocation of"),
        "{case}: the child aborted on a failed allocation:\n{text}"
    );
    assert!(
        out.status.success(),
        "{case}: child failed ({}):\n{text}",
        out.status
    );
    assert!(
        text.contains(&format!("case {case} done")),
        "{case}: the child did not run the case:\n{text}"
    );
    text
}

/// Lowers this process's address-space limit to what it uses now plus `room` bytes.
fn leave_room(room: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line["VmSize:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    let limit = libc::rlimit {
        rlim_cur: kb * 1024 + room,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `setrlimit` only reads the `rlimit` it is given, a valid local that outlives the call; it
    // lowers the soft limit of this (child) process only.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// The child's side: does nothing unless [`CASE_VAR`] is set.
#[test]
fn child() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        return;
    };
    if case == "init" {
        // Room for 8 MB more, then a 25 MB layer: with its build copy, below the size the budget is checked
        // from, so only the fallible reservation of the initial weights stands between it and an abort.
        leave_room(8 << 20);
        let err = Mlp::config(&[2_048, 3_072, 1]).build().unwrap_err();
        let msg = err.to_string();
        println!("{msg}");
        assert!(
            matches!(err, Error::TooLarge { what: "a layer's weights", bytes, .. } if bytes == 2_048 * 3_072 * 4),
            "{err:?}"
        );
        assert!(msg.contains("RLIMIT_AS (ulimit -v)"), "{msg}");
        println!("case {case} done");
        return;
    }
    if case == "peak" {
        // 3 GB of weights fit the 4 GB limit: building the network must not copy a layer on the way.
        match Mlp::config(&[100_000, 7_500, 1]).build() {
            Ok(mlp) => assert_eq!(mlp.n_inputs(), 100_000),
            Err(err @ Error::TooLarge { .. }) => {
                println!("{err}");
                assert!(err.to_string().contains("RLIMIT_AS (ulimit -v)"), "{err}");
            }
            Err(err) => panic!("{err:?}"),
        }
        println!("case {case} done");
        return;
    }
    let (bound, flag) = match case.as_str() {
        "address-space" => ("RLIMIT_AS (ulimit -v)", 'v'),
        "data" => ("RLIMIT_DATA (ulimit -d)", 'd'),
        other => panic!("unknown case {other}"),
    };
    let limit = LIMIT_KB * 1024;
    // The budget is below the limit (the process already uses some of it), and says which limit set it.
    let available = prunelab::mem::available().expect("Linux reports a budget");
    assert!(available < limit, "{available} >= {limit}");
    let budget = prunelab::mem::budget().expect("Linux reports a budget");
    assert_eq!(budget.bytes, available);
    assert_eq!(budget.bound.to_string(), bound);
    assert_eq!(
        budget.bound,
        if flag == 'v' {
            prunelab::mem::Bound::AddressSpace
        } else {
            prunelab::mem::Bound::DataSegment
        }
    );
    // 100,000 x 12,500 weights: 5 GB, more than the 4 GB limit but far less than the machine has.
    let err = Mlp::config(&[100_000, 12_500, 1]).build().unwrap_err();
    let msg = err.to_string();
    println!("{msg}");
    assert!(
        matches!(err, Error::TooLarge { bytes, available: Some(a), .. } if bytes > limit && a < limit),
        "{err:?}"
    );
    assert!(msg.contains(bound), "{msg}");
    // The sizes the budget allows still build under the limit.
    let mlp = Mlp::config(&[1_000, 1_000, 10]).build().unwrap();
    assert_eq!(mlp.n_inputs(), 1_000);
    println!("case {case} done");
}

#[test]
fn a_network_beyond_ulimit_v_is_too_large_not_an_abort() {
    let text = run_child(Some("-v"), "address-space");
    assert!(text.contains("RLIMIT_AS (ulimit -v)"), "{text}");
}

#[test]
fn a_network_beyond_ulimit_d_is_too_large_not_an_abort() {
    let text = run_child(Some("-d"), "data");
    assert!(text.contains("RLIMIT_DATA (ulimit -d)"), "{text}");
}

#[test]
fn initial_weights_beyond_the_limit_are_too_large_not_an_abort() {
    let text = run_child(None, "init");
    assert!(text.contains("a layer's weights needs"), "{text}");
}

#[test]
fn a_network_that_fits_the_limit_only_once_builds_without_a_copy() {
    run_child(Some("-v"), "peak");
}
