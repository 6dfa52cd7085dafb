//! `prunelab sweep`, run as a user runs it: plan, shards (by flag and by the schedulers' variables), merge,
//! and the Slurm script and Kubernetes manifest it writes. The real scheduler runs in `cluster/slurm_check.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

const SPEC: &str = r#"
name = "cli iris"
seeds = [3, 4]
[data]
dataset = "iris"
[network]
hidden = [8]
[train]
lr = 0.02
epochs = 10
[experiment]
kind = "sparsity"
methods = ["weights", "units"]
sparsities = [0.0, 0.5, 0.9]
"#;

fn prunelab(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prunelab"));
    cmd.args(args);
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "JOB_COMPLETION_INDEX",
        "PRUNELAB_SHARD_COUNT",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running prunelab");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn temp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("prunelab-sweep-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spec_file(dir: &Path, text: &str) -> String {
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn plan_run_and_merge_from_the_command_line() {
    let dir = temp("run");
    let spec = spec_file(&dir, SPEC);
    let out = dir.join("out");
    let out_s = out.to_str().unwrap();

    let (ok, text) = prunelab(&["sweep", "plan", &spec], &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("12 cells = 2 seed(s) x 6 configuration(s)"),
        "{text}"
    );
    assert!(text.contains("seed=4 method=units sparsity=0.9"), "{text}");
    let (ok, text) = prunelab(&["sweep", "plan", &spec, "--shards", "5"], &[]);
    assert!(ok && text.contains("shard 4/5: 3 cell(s)"), "{text}");

    // Shard 0 by flag, shard 1 as Slurm's array task 2 of an array numbered 1-2.
    let (ok, text) = prunelab(
        &["sweep", "run", &spec, "--shard", "0/2", "--out", out_s],
        &[],
    );
    assert!(ok && text.contains("ran 6 cell(s)"), "{text}");
    let (ok, text) = prunelab(&["sweep", "merge", out_s], &[]);
    assert!(!ok && text.contains("6 of 12 cells missing"), "{text}");
    let (ok, text) = prunelab(
        &["sweep", "run", &spec, "--out", out_s],
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ],
    );
    assert!(
        ok && text.contains("shard 1/2 (the scheduler's environment)"),
        "{text}"
    );
    assert!(out.join("shard-1-of-2.jsonl").exists());
    let (ok, text) = prunelab(&["sweep", "merge", out_s], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("12 cells merged"), "{text}");
    let merged = std::fs::read_to_string(out.join("merged.csv")).unwrap();
    assert_eq!(merged.lines().count(), 1 + 6, "{merged}");

    // Without a shard or a scheduler: every cell, all found done.
    let (ok, text) = prunelab(&["sweep", "run", &spec, "--out", out_s], &[]);
    assert!(
        ok && text.contains("ran 0 cell(s), skipped 12 already done"),
        "{text}"
    );

    // A Kubernetes index needs the shard count.
    let (ok, text) = prunelab(
        &["sweep", "run", &spec, "--out", out_s],
        &[("JOB_COMPLETION_INDEX", "0")],
    );
    assert!(!ok && text.contains("PRUNELAB_SHARD_COUNT"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_broken_spec_names_its_field_and_runs_nothing() {
    let dir = temp("broken");
    let spec = spec_file(&dir, &SPEC.replace("epochs = 10", "epochs = 1.5"));
    let (ok, text) = prunelab(
        &[
            "sweep",
            "run",
            &spec,
            "--out",
            dir.join("out").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok, "{text}");
    assert!(text.contains("train.epochs"), "{text}");
    assert!(!dir.join("out").exists());
    let (ok, text) = prunelab(&["sweep", "run", &spec], &[]);
    assert!(!ok && text.contains("--out"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_slurm_script_submits_an_array_and_a_dependent_merge() {
    let dir = temp("slurm");
    let spec = spec_file(&dir, SPEC);
    let script = dir.join("submit.sh");
    let (ok, text) = prunelab(
        &[
            "sweep",
            "slurm",
            &spec,
            "--array",
            "4",
            "--out",
            "results dir/iris",
            "--time",
            "01:00:00",
            "--mem",
            "2G",
            "--partition",
            "short",
            "--sbatch",
            "--qos=low",
            "--write",
            script.to_str().unwrap(),
        ],
        &[],
    );
    // A results folder with a space cannot be a Slurm log path.
    assert!(!ok && text.contains("space"), "{text}");
    let out = dir.join("results").join("iris");
    let (ok, text) = prunelab(
        &[
            "sweep",
            "slurm",
            &spec,
            "--array",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--time",
            "01:00:00",
            "--mem",
            "2G",
            "--partition",
            "short",
            "--sbatch",
            "--qos=low",
            "--write",
            script.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{text}");
    let s = std::fs::read_to_string(&script).unwrap();
    for want in [
        "#SBATCH --array=0-3",
        "#SBATCH --time=01:00:00",
        "#SBATCH --mem=2G",
        "#SBATCH --partition=short",
        "#SBATCH --qos=low",
        "#SBATCH --job-name=prunelab-cli-iris",
        "--dependency=afterok:\"$array\"",
        " sweep merge ",
        "12 cells in 4 shards",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    // The shard command runs this binary on this spec, by absolute paths.
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_prunelab")).unwrap();
    assert!(
        s.contains(&format!("exec {} sweep run {}", exe.display(), spec)),
        "{s}"
    );
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let (ok, text) = prunelab(
        &[
            "sweep", "slurm", &spec, "--array", "4", "--out", "x", "--time", "1 h",
        ],
        &[],
    );
    assert!(!ok && text.contains("no spaces"), "{text}");
    let (ok, text) = prunelab(
        &["sweep", "slurm", &spec, "--array", "0", "--out", "x"],
        &[],
    );
    assert!(!ok, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job() {
    let dir = temp("k8s");
    let spec = spec_file(&dir, SPEC);
    let (ok, text) = prunelab(
        &[
            "sweep",
            "slurm",
            &spec,
            "--array",
            "3",
            "--out",
            "/results/iris",
            "--k8s",
            "--image",
            "ghcr.io/lab/prunelab:0.1",
        ],
        &[],
    );
    assert!(ok, "{text}");
    for want in [
        "kind: ConfigMap",
        "kind: Job",
        "completionMode: Indexed",
        "completions: 3",
        "parallelism: 3",
        "name: PRUNELAB_SHARD_COUNT",
        "value: \"3\"",
        "image: \"ghcr.io/lab/prunelab:0.1\"",
        "command: [\"prunelab\", \"sweep\", \"run\", \"/spec/spec.toml\", \"--out\", \"/results/iris\"]",
        "    name = \"cli iris\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // Where PyYAML is at hand, the manifest parses into the two documents.
    let parse = Command::new("python3")
        .args(["-c", "import sys, yaml; d = list(yaml.safe_load_all(sys.stdin)); assert [x['kind'] for x in d] == ['ConfigMap', 'Job'], d; assert d[1]['spec']['completions'] == 3; print('parsed')"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = parse {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("No module named 'yaml'") {
            assert!(
                out.status.success(),
                "the manifest is not valid YAML: {err}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
