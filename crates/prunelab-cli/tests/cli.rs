//! The `prunelab` binary's kernel commands, run as a user runs them. (This integration test also makes
//! `cargo test --workspace --release` build `target/release/prunelab` with the tests' features, so the
//! kernel scripts reuse that one build of evcxr.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn prunelab(args: &[&str], envs: &[(&str, &Path)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prunelab"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running prunelab");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prunelab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn kernel_install_writes_an_offline_config_with_the_prelude() {
    let prefix = temp("install");
    let (ok, text) = prunelab(
        &["kernel", "install", "--prefix", prefix.to_str().unwrap()],
        &[],
    );
    assert!(ok, "{text}");
    let spec = prefix.join("share/jupyter/kernels/prunelab");
    let json = std::fs::read_to_string(spec.join("kernel.json")).unwrap();
    assert!(json.contains("\"interrupt_mode\": \"message\""), "{json}");
    let init = std::fs::read_to_string(spec.join("evcxr/init.evcxr")).unwrap();
    let offline = init.find(":offline 1").expect("offline mode");
    let first_dep = init.find(":dep").expect("the prelude crates");
    assert!(
        offline < first_dep,
        "offline mode comes before the first :dep:\n{init}"
    );
    assert_eq!(
        std::fs::read_to_string(spec.join("evcxr/prelude.rs")).unwrap(),
        "use prunelab_prelude::*;\n"
    );
    let (ok, text) = prunelab(
        &["kernel", "uninstall", "--prefix", prefix.to_str().unwrap()],
        &[],
    );
    assert!(ok && !spec.exists(), "{text}");
    std::fs::remove_dir_all(&prefix).unwrap();
}

#[test]
fn kernel_clean_removes_build_folders() {
    let root = temp("clean");
    for slot in ["slot-0", "slot-3"] {
        std::fs::create_dir_all(root.join(slot).join("target")).unwrap();
        std::fs::write(root.join(slot).join("target/lib.so"), vec![1u8; 2_000_000]).unwrap();
    }
    let (ok, text) = prunelab(&["kernel", "clean"], &[("PRUNELAB_KERNEL_DIR", &root)]);
    assert!(ok, "{text}");
    assert!(
        text.contains("removed 2 kernel build folder(s)") && text.contains("(4 MB freed)"),
        "{text}"
    );
    assert!(!root.join("slot-0").exists() && !root.join("slot-3").exists());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn unknown_commands_are_errors() {
    let (ok, text) = prunelab(&["kernel", "polish"], &[]);
    assert!(
        !ok && text.contains("unrecognized subcommand 'polish'"),
        "{text}"
    );
}

#[test]
fn simd_lists_the_families_and_refuses_one_the_cpu_lacks() {
    let (ok, list) = prunelab(&["simd", "--list"], &[]);
    assert!(ok, "{list}");
    let families: Vec<&str> = list.lines().collect();
    assert_eq!(families.last(), Some(&"portable"), "{list}");
    let (ok, active) = prunelab(&["simd", "--active"], &[]);
    assert!(ok && active.trim() == families[0], "{active} vs {list}");
    // Forcing each family the CPU runs is honoured.
    for f in &families {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prunelab"));
        let out = cmd
            .args(["simd", "--active"])
            .env("PRUNELAB_SIMD", f)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), *f);
    }
    // An unknown family, or one this CPU lacks, is a clear error, and `check` refuses to start.
    let mut missing: Vec<&str> = ["avx512", "avx2"]
        .into_iter()
        .filter(|f| !families.contains(f))
        .collect();
    missing.push("sse9");
    for f in missing {
        for args in [&["simd"][..], &["check", "no-such.ipynb"][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_prunelab"))
                .args(args)
                .env("PRUNELAB_SIMD", f)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{f}: {args:?} succeeded");
            assert!(
                err.contains("kernel family") && err.contains(f),
                "{f}: {err}"
            );
        }
    }
}
