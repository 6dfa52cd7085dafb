//! `prunelab sweep`: plan a sweep spec's grid, run one shard of it, merge the shards, and write the Slurm job
//! array (or Kubernetes Indexed Job) that runs the shards on a cluster.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use prunelab::sweep::{merge_dir, Shard, SweepSpec};

use crate::cli::{SlurmArgs, SweepCommand};

/// Dispatches `prunelab sweep ...`.
pub fn main(command: SweepCommand) -> Result<()> {
    match command {
        SweepCommand::Plan { spec, shards } => plan(&spec, shards),
        SweepCommand::Run { spec, out, shard } => run(&spec, &out, shard.as_deref()),
        SweepCommand::Merge { dir, out } => merge(dir, out),
        SweepCommand::Slurm(args) => slurm(&args),
    }
}

/// A path as text (the scripts quote it for a shell), or an error naming what it is.
fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str> {
    path.to_str()
        .ok_or_else(|| anyhow!("{what} {}: not UTF-8", path.display()))
}

fn load(path: &Path) -> Result<SweepSpec> {
    Ok(SweepSpec::from_file(path)?)
}

fn plan(spec: &Path, shards: Option<u64>) -> Result<()> {
    let spec = load(spec)?;
    let cells = spec.plan()?;
    let per_seed = cells.len() / spec.seeds.len();
    println!(
        "{}: {} cells = {} seed(s) x {} configuration(s); spec digest {}",
        spec.name,
        cells.len(),
        spec.seeds.len(),
        per_seed,
        spec.digest()
    );
    match shards {
        Some(n) => {
            let n = usize::try_from(n).context("--shards: too many")?;
            for i in 0..n {
                let shard = Shard::new(i, n)?;
                let r = shard.range(cells.len());
                match (
                    cells.get(r.start),
                    r.end.checked_sub(1).and_then(|e| cells.get(e)),
                ) {
                    (Some(first), Some(last)) if !r.is_empty() => println!(
                        "shard {shard}: {} cell(s), {} .. {}",
                        r.len(),
                        first.id(),
                        last.id()
                    ),
                    _ => println!("shard {shard}: no cells"),
                }
            }
        }
        None => {
            for c in &cells {
                println!("{:>6}  {}", c.index, c.id());
            }
        }
    }
    Ok(())
}

fn run(spec: &Path, out: &Path, shard: Option<&str>) -> Result<()> {
    let spec = load(spec)?;
    let (shard, from) = match shard {
        Some(s) => (Shard::parse(s)?, "--shard"),
        None => match Shard::from_env()? {
            Some(s) => (s, "the scheduler's environment"),
            None => (Shard::ALL, "no --shard and no scheduler: every cell"),
        },
    };
    let n_cells = spec.plan()?.len();
    // Under Slurm, as many threads as the task was given CPUs (a task does not see its allocation
    // otherwise, and four shards on a node would each start a thread per core); RAYON_NUM_THREADS wins.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        if let Some(n) = std::env::var("SLURM_CPUS_PER_TASK")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
        {
            // Before any thread pool exists: this runs first in the process's only thread.
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        }
    }
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // The kernel family changes no number, but a log that says which ran helps a mixed partition's user.
    let family = prunelab::kernels::active_family()?;
    println!(
        "{}: shard {shard} ({from}), {} of {n_cells} cells, {threads} thread(s), kernels: {family}, into {}",
        spec.name,
        shard.range(n_cells).len(),
        out.display()
    );
    let report = spec.run_shard(shard, out, |r, k, n| {
        let metric = match r.rows.as_slice() {
            [one] => format!("{} {:.4}", r.metric, one.metric),
            rows => format!("{} rows", rows.len()),
        };
        println!("  [{k}/{n}] {}: {metric} ({:.2} s)", r.cell, r.wall_s);
    })?;
    println!(
        "shard {shard}: ran {} cell(s), skipped {} already done, in {:.1} s -> {}",
        report.ran,
        report.skipped,
        report.wall_s,
        report.file.display()
    );
    Ok(())
}

fn merge(dir: PathBuf, out: Option<PathBuf>) -> Result<()> {
    let results = merge_dir(&dir)?;
    let out = out.unwrap_or(dir);
    let files = results.write(&out)?;
    println!("{results}");
    println!(
        "{} cells merged ({:.1} s of cell time); wrote {}",
        results.records.len(),
        results.cell_seconds(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// `s` quoted for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn absolute(path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// A name Slurm and Kubernetes accept: lower-case letters, digits and '-'.
fn job_name(name: &str) -> String {
    let mut s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s = if s.is_empty() { "sweep" } else { s };
    format!("prunelab-{}", &s[..s.len().min(40)])
        .trim_end_matches('-')
        .to_string()
}

fn slurm(a: &SlurmArgs) -> Result<()> {
    let spec_path = utf8(&a.spec, "the spec file")?;
    let spec = load(&a.spec)?;
    let n_cells = spec.plan()?.len();
    let array = a.array;
    Shard::new(0, array)?;
    if array > n_cells {
        eprintln!(
            "note: {array} shards for {n_cells} cells; {} shard(s) will have nothing to do",
            array - n_cells
        );
    }
    let out = utf8(&a.out, "the results folder")?;
    let text = if a.k8s {
        k8s_manifest(&spec, spec_path, array, out, a)?
    } else {
        slurm_script(&spec, spec_path, n_cells, array, out, a)?
    };
    match &a.write {
        Some(file) => {
            std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn slurm_script(
    spec: &SweepSpec,
    spec_path: &str,
    n_cells: usize,
    array: usize,
    out: &str,
    a: &SlurmArgs,
) -> Result<String> {
    let exe = match &a.prunelab {
        Some(p) => absolute(utf8(p, "--prunelab")?)?,
        None => std::env::current_exe()?.canonicalize()?,
    };
    let spec_abs = absolute(spec_path)?.canonicalize()?;
    let out_abs = absolute(out)?;
    let name = job_name(&spec.name);
    let mut opts = String::new();
    for (key, value) in [
        ("time", &a.time),
        ("mem", &a.mem),
        ("partition", &a.partition),
        ("account", &a.account),
        ("cpus-per-task", &a.cpus_per_task),
    ] {
        let flag = format!("--{key}");
        if let Some(v) = value {
            if v.contains(char::is_whitespace) {
                bail!("{flag} {v:?}: no spaces in a Slurm option");
            }
            let _ = writeln!(opts, "#SBATCH --{key}={v}");
        }
    }
    for extra in &a.sbatch {
        if extra.contains('\n') || !extra.starts_with('-') {
            bail!("--sbatch {extra:?}: one sbatch option such as --qos=short");
        }
        let _ = writeln!(opts, "#SBATCH {extra}");
    }
    let logs = out_abs.join("logs");
    let (exe, spec_q, out_q) = (
        sh(&exe.display().to_string()),
        sh(&spec_abs.display().to_string()),
        sh(&out_abs.display().to_string()),
    );
    let logs_s = logs.display().to_string();
    if logs_s.contains(char::is_whitespace) {
        bail!("the results folder {logs_s:?} has a space; Slurm's --output cannot hold one");
    }
    Ok(format!(
        r#"#!/usr/bin/env bash
# Submits the prunelab sweep {title}: {n_cells} cells in {array} shards, as a Slurm job array, and a merge
# job that runs once every shard has succeeded. Run on the cluster's login node: bash THIS_FILE
# The paths below must be the same on the compute nodes (a shared file system). A shard that fails or is
# preempted can simply run again: cells already in the results folder are skipped. If a shard fails, the
# merge job waits (DependencyNeverSatisfied): scancel it, and once the cause is fixed run this script again.
# Written by `prunelab sweep slurm` (prunelab {version}), spec digest {digest}.
set -euo pipefail
mkdir -p {logs_q}
array=$(sbatch --parsable <<'SBATCH'
#!/usr/bin/env bash
#SBATCH --job-name={name}
#SBATCH --array=0-{last}
#SBATCH --output={logs_s}/shard-%a.out
#SBATCH --requeue
{opts}exec {exe} sweep run {spec_q} --out {out_q}
SBATCH
)
array=${{array%%;*}}
merge=$(sbatch --parsable --job-name={name}-merge --dependency=afterok:"$array" \
  --output={logs_s}/merge.out <<'SBATCH'
#!/usr/bin/env bash
exec {exe} sweep merge {out_q}
SBATCH
)
merge=${{merge%%;*}}
echo "submitted: shards as job array $array, merge as job $merge"
echo "results: {out_s}/merged.csv once job $merge has run (logs in {logs_s})"
"#,
        title = sh(&spec.name),
        version = env!("CARGO_PKG_VERSION"),
        digest = spec.digest(),
        logs_q = sh(&logs_s),
        last = array - 1,
        out_s = out_abs.display(),
    ))
}

fn k8s_manifest(
    spec: &SweepSpec,
    spec_path: &str,
    array: usize,
    out: &str,
    a: &SlurmArgs,
) -> Result<String> {
    let name = job_name(&spec.name);
    let image = a.image.as_deref().unwrap_or("prunelab:latest");
    let pvc = a.pvc.as_deref().unwrap_or("prunelab-results");
    let cpu = a.cpu.as_deref().unwrap_or("1");
    let mem = a.mem.as_deref().unwrap_or("2Gi");
    let text =
        std::fs::read_to_string(spec_path).with_context(|| format!("reading {spec_path}"))?;
    // Results go to a folder named after the sweep on the claim, unless --out names one under /results.
    let out_dir = if out.starts_with("/results") {
        out.to_string()
    } else {
        format!(
            "/results/{}",
            Path::new(out)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("sweep")
        )
    };
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let spec_block: String = text.lines().map(|l| format!("    {l}\n")).collect();
    Ok(format!(
        r#"# The prunelab sweep {title} as a Kubernetes Indexed Job: {array} shards, each a pod that runs its share
# of the cells into {out_dir} on the volume claim {pvc} (ReadWriteMany, shared by the pods).
#   kubectl apply -f THIS_FILE
#   kubectl wait --for=condition=complete job/{name} --timeout=24h
# then merge where the claim is mounted: prunelab sweep merge {out_dir}
# A failed pod is retried; cells already in the results folder are skipped.
# Written by `prunelab sweep slurm --k8s` (prunelab {version}), spec digest {digest}.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-spec
data:
  spec.toml: |
{spec_block}---
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  completionMode: Indexed
  completions: {array}
  parallelism: {array}
  backoffLimit: {backoff}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: shard
          image: {image}
          command: ["prunelab", "sweep", "run", "/spec/spec.toml", "--out", {out_json}]
          env:
            - name: PRUNELAB_SHARD_COUNT
              value: "{array}"
          resources:
            requests:
              cpu: {cpu}
              memory: {mem}
          volumeMounts:
            - name: spec
              mountPath: /spec
            - name: results
              mountPath: /results
      volumes:
        - name: spec
          configMap:
            name: {name}-spec
        - name: results
          persistentVolumeClaim:
            claimName: {pvc}
"#,
        title = json(&spec.name),
        version = env!("CARGO_PKG_VERSION"),
        digest = spec.digest(),
        backoff = 3 * array,
        image = json(image),
        cpu = json(cpu),
        mem = json(mem),
        out_json = json(&out_dir),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_odd_paths() {
        assert_eq!(sh("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(sh("it's here"), r"'it'\''s here'");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn job_names_are_what_schedulers_accept() {
        assert_eq!(
            job_name("MNIST lottery: 10 seeds"),
            "prunelab-mnist-lottery-10-seeds"
        );
        assert_eq!(job_name("///"), "prunelab-sweep");
        assert!(job_name(&"x".repeat(200)).len() <= 50);
    }
}
