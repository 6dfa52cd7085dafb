//! The Jupyter kernelspec: install, uninstall, and the evcxr configuration it points at.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::cli::{InstallArgs, SpecLocation};

/// The kernelspec name.
pub const NAME: &str = "prunelab";
/// The name Jupyter shows.
pub const DISPLAY_NAME: &str = "Rust (prunelab)";

/// The workspace this binary was built from (crates are `:dep`ed from here by absolute path).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Where kernelspecs go for `--user`: `$JUPYTER_DATA_DIR`, else the platform's Jupyter data folder.
fn user_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set; use --prefix"))?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library/Jupyter")
    } else {
        home.join(".local/share/jupyter")
    })
}

/// The kernelspec folder at `at` (`--user`, the default, or `--prefix P`).
pub fn kernel_dir(at: &SpecLocation) -> Result<PathBuf> {
    let data = match &at.prefix {
        Some(p) => p.join("share/jupyter"),
        None => user_data_dir()?,
    };
    Ok(data.join("kernels").join(NAME))
}

/// The `init.evcxr` that `:dep`s every crate whose types notebooks meet, so evcxr can infer them; with or
/// without evcxr's per-user build cache (4 GB at most; a kernel that fills its build folder from a shared build
/// needs none).
pub fn init_evcxr_with(root: &Path, cache: bool) -> String {
    let path = |c: &str| root.join("crates").join(c).display().to_string();
    format!(
        "// Written by `prunelab kernel install`. Offline: the crates below are on this machine already, and\n\
         // cargo then skips the package index. A notebook adds a crate of its own with `:offline 0` first.\n\
         :offline 1\n\
         {}\
         :dep prunelab = {{ path = \"{}\" }}\n\
         :dep prunelab-plot = {{ path = \"{}\" }}\n\
         :dep prunelab-prelude = {{ path = \"{}\" }}\n\
         :dep ndarray = {{ version = \"0.16.1\", features = [\"serde\"] }}\n",
        if cache { ":cache 4096\n" } else { "" },
        path("prunelab"),
        path("prunelab-plot"),
        path("prunelab-prelude"),
    )
}

/// The `prelude.rs` run at kernel start.
pub const PRELUDE: &str = "use prunelab_prelude::*;\n";

/// Writes the evcxr configuration folder for `root` into `dir`.
pub fn write_config(dir: &Path, root: &Path) -> Result<()> {
    write_config_with(dir, root, true)
}

/// [`write_config`], with or without evcxr's per-user build cache (see [`init_evcxr_with`]).
pub fn write_config_with(dir: &Path, root: &Path, cache: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("init.evcxr"), init_evcxr_with(root, cache))?;
    std::fs::write(dir.join("prelude.rs"), PRELUDE)?;
    Ok(())
}

/// `prunelab kernel install [--user | --prefix P] [--papermill [--python PY]]`.
pub fn install(args: &InstallArgs) -> Result<PathBuf> {
    let dir = install_with(&args.at, None)?;
    if args.papermill {
        install_papermill(&args.at, args.python.as_deref())?;
    }
    Ok(dir)
}

/// The folder of papermill's Rust parameter translator, a Python package (see its pyproject.toml).
pub fn papermill_package() -> PathBuf {
    workspace_root().join("python/prunelab-papermill")
}

/// The Python of the Jupyter environment: `python`, else `PREFIX/bin/python` for `--prefix`, else the
/// interpreter named by the `#!` line of `jupyter` on PATH, else `python3`.
pub fn jupyter_python(at: &SpecLocation, python: Option<&Path>) -> PathBuf {
    if let Some(p) = python {
        return p.to_path_buf();
    }
    if let Some(p) = at.prefix.as_ref().map(|p| p.join("bin/python")) {
        if p.is_file() {
            return p;
        }
    }
    let from_jupyter = std::env::var_os("PATH").and_then(|path| {
        let jupyter = std::env::split_paths(&path)
            .map(|d| d.join("jupyter"))
            .find(|j| j.is_file())?;
        let text = std::fs::read(&jupyter).ok()?;
        let line = text.split(|&b| b == b'\n').next()?;
        let interp = std::str::from_utf8(line).ok()?.strip_prefix("#!")?.trim();
        let interp = PathBuf::from(interp.split_whitespace().next()?);
        interp.is_file().then_some(interp)
    });
    from_jupyter.unwrap_or_else(|| PathBuf::from("python3"))
}

/// `prunelab kernel install --papermill`: `PYTHON -m pip install python/prunelab-papermill`, so papermill
/// finds a translator for the kernel (`papermill NB OUT -k prunelab -p NAME VALUE`).
pub fn install_papermill(at: &SpecLocation, python: Option<&Path>) -> Result<()> {
    let python = jupyter_python(at, python);
    let package = papermill_package();
    println!(
        "installing papermill's Rust translator ({}) with {}",
        package.display(),
        python.display()
    );
    let status = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .arg(&package)
        .status()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(
        status.success(),
        "`{} -m pip install {}` failed ({status}); --python names another Python",
        python.display(),
        package.display()
    );
    println!("installed papermill's translator for kernel {NAME:?} and language \"rust\"");
    Ok(())
}

/// Writes the kernelspec for `args` (`--user`, `--prefix P`); with `shared`, its kernels fill their build
/// folders from that shared build (see [`crate::shared`]) and keep no evcxr cache of their own.
pub fn install_with(at: &SpecLocation, shared: Option<&Path>) -> Result<PathBuf> {
    let dir = kernel_dir(at)?;
    let config = dir.join("evcxr");
    write_config_with(&config, &workspace_root(), shared.is_none())?;
    let exe = std::env::current_exe()?.canonicalize()?;
    let mut env = serde_json::json!({ "EVCXR_CONFIG_DIR": config.display().to_string() });
    if let Some(shared) = shared {
        env[crate::shared::SHARED_BUILD_ENV] = shared.display().to_string().into();
        // Every user's kernel runs the administrator's toolchain and reads the locked crates from the
        // administrator's cargo home (offline, so cargo only reads it), as the shared build was made with them.
        let (toolchain_bin, cargo_home) = crate::shared::toolchain_and_cargo_home()?;
        let path = std::env::var("PATH").unwrap_or_default();
        env["PATH"] = format!("{}:{path}", toolchain_bin.display()).into();
        env["CARGO_HOME"] = cargo_home.display().to_string().into();
    }
    let spec = serde_json::json!({
        "argv": [exe.display().to_string(), "--control_file", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "rust",
        "interrupt_mode": "message",
        "env": env,
    });
    std::fs::write(
        dir.join("kernel.json"),
        serde_json::to_string_pretty(&spec)?,
    )?;
    println!(
        "installed kernelspec {NAME:?} ({DISPLAY_NAME}) in {}",
        dir.display()
    );
    Ok(dir)
}

/// `prunelab kernel uninstall [--user | --prefix P]`.
pub fn uninstall(at: &SpecLocation) -> Result<()> {
    let dir = kernel_dir(at)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        println!("removed {}", dir.display());
    } else {
        println!("no kernelspec at {}", dir.display());
    }
    Ok(())
}
