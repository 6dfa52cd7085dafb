//! The command line, parsed by clap: one type per command, each handed to the module that runs it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The prunelab notebook kernel: kernelspec installer, warm-up, headless runner, checker and renderer of
/// notebooks, and sweeps run in one process or on a cluster.
#[derive(Debug, Parser)]
#[command(name = "prunelab", version, arg_required_else_help = true)]
pub struct Cli {
    /// Serve the Jupyter protocol with this connection file (Jupyter runs this; see `kernel install`).
    #[arg(long = "control_file", value_name = "FILE", exclusive = true)]
    pub control_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The kernelspec, the kernel's configuration and its build folders.
    #[command(subcommand)]
    Kernel(KernelCommand),
    /// Fetch the locked crates (cargo fetch --locked) and compile the prelude once, so the kernel starts fast.
    Warmup,
    /// Set-up for a machine many users share (a teaching lab, a JupyterHub).
    #[command(subcommand)]
    Lab(LabCommand),
    /// Datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// A study in a TOML spec, run in one process or as the shards of a cluster job.
    #[command(subcommand)]
    Sweep(SweepCommand),
    /// Execute notebooks headlessly and write their outputs back.
    Run(RunArgs),
    /// Re-execute notebooks and fail where a text output changed (exactly, unless --rtol).
    Check(CheckArgs),
    /// The kernel families this CPU runs and the one in use (PRUNELAB_SIMD=avx512|avx2|portable forces one).
    Simd(SimdArgs),
    /// Render notebooks as posts of a Jekyll site (_posts/, assets/notebooks/) or as an HTML site.
    Render(RenderArgs),
}

/// Where a kernelspec goes.
#[derive(Debug, Args)]
pub struct SpecLocation {
    /// In the user's Jupyter data folder (the default).
    #[arg(long, conflicts_with = "prefix")]
    pub user: bool,
    /// Under PATH/share/jupyter (a virtual environment, or /usr/local for everyone).
    #[arg(long, value_name = "PATH")]
    pub prefix: Option<PathBuf>,
}

/// `prunelab kernel install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Where the kernelspec goes.
    #[command(flatten)]
    pub at: SpecLocation,
    /// Also pip-install papermill's Rust parameter translator (python/prunelab-papermill) into the Jupyter
    /// environment's Python: --python, else PATH/bin/python of --prefix, else the Python of `jupyter` on PATH,
    /// else python3.
    #[arg(long)]
    pub papermill: bool,
    /// The Python to install the translator with (with --papermill).
    #[arg(long, value_name = "PYTHON", requires = "papermill")]
    pub python: Option<PathBuf>,
}

/// `prunelab kernel ...`.
#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Write the "Rust (prunelab)" kernelspec.
    Install(InstallArgs),
    /// Remove it.
    Uninstall(SpecLocation),
    /// Write the kernel's evcxr configuration into DIR.
    Config {
        /// The folder.
        dir: PathBuf,
    },
    /// Remove the kernels' build folders (none in use).
    Clean,
}

/// `prunelab lab ...`.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Compile the prelude into DIR, readable by all, and write a kernelspec whose kernels link their build
    /// folders to it instead of compiling (an administrator, once).
    Install {
        /// The folder for the shared build.
        #[arg(long, value_name = "DIR")]
        shared: PathBuf,
        /// Where the kernelspec goes (PATH/share/jupyter).
        #[arg(long, value_name = "PATH", default_value = "/usr/local")]
        prefix: PathBuf,
    },
}

/// `prunelab data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download (or find) MNIST, verify it, and say where it is.
    Mnist {
        /// The cache folder (default: PRUNELAB_MNIST_DIR, else the user's cache).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Notebooks and a time limit, for `run` and `check`.
#[derive(Debug, Args)]
pub struct Notebooks {
    /// The notebooks, in order.
    #[arg(required = true, value_name = "NOTEBOOK")]
    pub notebooks: Vec<PathBuf>,
    /// Per-cell time limit in seconds.
    #[arg(long, value_name = "S", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Print what cells write while they run.
    #[arg(long)]
    pub echo: bool,
}

/// `prunelab run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The notebooks and their limits.
    #[command(flatten)]
    pub notebooks: Notebooks,
    /// Go on after a failing cell (its error is stored in the notebook).
    #[arg(long)]
    pub allow_errors: bool,
}

/// `prunelab check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The notebooks and their limits.
    #[command(flatten)]
    pub notebooks: Notebooks,
    /// Compare numbers exactly (the default; accepted for scripts that say so).
    #[arg(long, conflicts_with = "rtol")]
    pub exact: bool,
    /// Accept numbers within this relative tolerance, or one unit in the last printed digit.
    #[arg(long, value_name = "R", value_parser = non_negative)]
    pub rtol: Option<f64>,
}

/// A finite number >= 0.
fn non_negative(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r >= 0.0)
        .ok_or_else(|| format!("expected a number >= 0, got {s:?}"))
}

/// `prunelab simd`.
#[derive(Debug, Args)]
pub struct SimdArgs {
    /// The families this CPU runs, one per line, fastest first.
    #[arg(long, conflicts_with = "active")]
    pub list: bool,
    /// The family in use.
    #[arg(long)]
    pub active: bool,
}

/// What `render` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderTo {
    /// Posts of a Jekyll site (Markdown with front matter, images beside).
    #[value(alias = "markdown")]
    Jekyll,
    /// A static HTML site with an index.
    Html,
}

/// `prunelab render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The notebooks.
    #[arg(required = true, value_name = "NOTEBOOK")]
    pub notebooks: Vec<PathBuf>,
    /// The site's folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The output kind.
    #[arg(long, value_enum, default_value = "jekyll")]
    pub to: RenderTo,
    /// A fixed prefix for the site's links, such as /blog (default: Jekyll's site.baseurl).
    #[arg(long, value_name = "PREFIX")]
    pub baseurl: Option<String>,
}

/// `prunelab sweep ...`.
#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// List the grid's cells (and each shard's share).
    Plan {
        /// The spec file.
        spec: PathBuf,
        /// Show how N shards split the cells.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        shards: Option<u64>,
    },
    /// Run shard I of N (default: from SLURM_ARRAY_TASK_ID/_COUNT or JOB_COMPLETION_INDEX/
    /// PRUNELAB_SHARD_COUNT, else every cell); done cells are skipped.
    Run {
        /// The spec file.
        spec: PathBuf,
        /// The results folder the shards share.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Which shard, as I/N (0-based).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
    },
    /// Check every cell is there once; write merged.csv, merged.json and cells.csv (mean and spread over
    /// seeds).
    Merge {
        /// The results folder.
        dir: PathBuf,
        /// Where the merged files go (default: the results folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// An sbatch submit script: a job array of N shards and a merge job that runs when all have succeeded
    /// (or, with --k8s, a Kubernetes Indexed Job manifest).
    Slurm(Box<SlurmArgs>),
}

/// `prunelab sweep slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// How many shards.
    #[arg(long, value_name = "N")]
    pub array: usize,
    /// The results folder every shard can reach.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Slurm's --time for each shard.
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// Memory per shard (Slurm's --mem; with --k8s, the container's limit, default 2Gi).
    #[arg(long, value_name = "M")]
    pub mem: Option<String>,
    /// Slurm's --partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// Slurm's --account.
    #[arg(long, value_name = "A")]
    pub account: Option<String>,
    /// Slurm's --cpus-per-task.
    #[arg(long, value_name = "C")]
    pub cpus_per_task: Option<String>,
    /// Any other sbatch option, written as given (repeatable), such as --sbatch --qos=short.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// The prunelab binary the jobs run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub prunelab: Option<PathBuf>,
    /// Write the script to FILE instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// A Kubernetes Indexed Job manifest instead of a Slurm script.
    #[arg(long)]
    pub k8s: bool,
    /// The container image (with --k8s; default prunelab:latest).
    #[arg(long, value_name = "IMG", requires = "k8s")]
    pub image: Option<String>,
    /// The persistent volume claim for the results (with --k8s; default prunelab-results).
    #[arg(long, value_name = "CLAIM", requires = "k8s")]
    pub pvc: Option<String>,
    /// CPUs per shard (with --k8s; default 1).
    #[arg(long, value_name = "C", requires = "k8s")]
    pub cpu: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
