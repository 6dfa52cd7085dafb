//! MNIST (and datasets in its four-file IDX layout) from a local folder or a cache that fills itself from the
//! public mirrors on first use, as `torchvision.datasets.MNIST(download=True)` does.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::data::idx;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Environment variable: a folder that already holds the four MNIST files; [`mnist`] reads it and downloads
/// nothing.
pub const MNIST_DIR_VAR: &str = "PRUNELAB_MNIST_DIR";
/// Environment variable: the root of prunelab's dataset cache (MNIST goes to its `mnist` subfolder) instead of
/// the platform's cache folder.
pub const DATA_DIR_VAR: &str = "PRUNELAB_DATA_DIR";
/// Environment variable: comma-separated base URLs to download from instead of [`MNIST_MIRRORS`].
pub const MIRRORS_VAR: &str = "PRUNELAB_MNIST_MIRRORS";

/// The public mirrors of MNIST's `.gz` files, tried in order (torchvision's list, then TensorFlow's).
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// The most bytes a file of the dataset may have, compressed or not (MNIST's largest file is 47 MB
/// decompressed); a server that sends more, or a gzip stream that inflates to more, is refused.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The shortest overall deadline a download gets by default (see [`MnistSource::deadline`]).
const MIN_DEADLINE: Duration = Duration::from_secs(120);

/// The slowest transfer rate, in bytes per second, that the default deadline allows for: a file of `n`
/// bytes gets `max(MIN_DEADLINE, n / MIN_RATE)` seconds (11 minutes for a file of unknown size).
const MIN_RATE: u64 = 100_000;

/// One file of a dataset: its canonical name (without `.gz`) and the SHA-256 of its decompressed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The file name, e.g. `train-images-idx3-ubyte`; mirrors serve it as `NAME.gz`.
    pub name: String,
    /// The SHA-256 of the decompressed file, as 64 lowercase hex digits.
    pub sha256: String,
}

impl RemoteFile {
    /// A file with its name and the SHA-256 of its decompressed bytes.
    pub fn new(name: impl Into<String>, sha256: impl Into<String>) -> Self {
        RemoteFile {
            name: name.into(),
            sha256: sha256.into().to_ascii_lowercase(),
        }
    }
}

/// The four MNIST files (training images and labels, then test images and labels) with their SHA-256.
pub fn mnist_files() -> [RemoteFile; 4] {
    [
        RemoteFile::new(
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        RemoteFile::new(
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        RemoteFile::new(
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        RemoteFile::new(
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ]
}

/// MNIST as (train, test): 60,000 and 10,000 images of 28x28 pixels scaled to `[0, 1]`, labels 0-9.
///
/// Reads the folder named by `PRUNELAB_MNIST_DIR` when that is set; otherwise the cache folder
/// ([`MnistSource::cache_dir`]), downloading the files it lacks from the public mirrors first (11 MB, a few
/// seconds on a good connection), each verified against its SHA-256 before it is kept. Offline without a
/// cached copy it fails with [`Error::Download`], which says where to put the files.
///
/// ```no_run
/// let (train, test) = prunelab::data::mnist()?;
/// assert_eq!((train.n_samples(), test.n_samples(), train.n_features()), (60_000, 10_000, 784));
/// # Ok::<(), prunelab::Error>(())
/// ```
pub fn mnist() -> Result<(Dataset, Dataset)> {
    match std::env::var_os(MNIST_DIR_VAR) {
        Some(dir) if !dir.is_empty() => idx::mnist_dir(PathBuf::from(dir)),
        _ => MnistSource::new().load(),
    }
}

/// Where MNIST-layout files come from and where they are kept: a cache folder, the mirrors to fill it from,
/// and the files with their hashes. The defaults are MNIST's; other datasets in the same four-file layout
/// (Fashion-MNIST, say) set `mirrors` and `files`.
///
/// ```
/// use prunelab::data::MnistSource;
///
/// let source = MnistSource::new().dir("/tmp/mnist").progress(false);
/// assert_eq!(source.cache_dir()?, std::path::PathBuf::from("/tmp/mnist"));
/// assert_eq!(source.files[0].name, "train-images-idx3-ubyte");
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistSource {
    /// The cache folder; `None` for `$PRUNELAB_DATA_DIR/mnist`, else the platform's cache folder
    /// (`~/.cache/prunelab/mnist` on Linux).
    pub dir: Option<PathBuf>,
    /// Base URLs, tried in order for each file (`BASE/NAME.gz`); default `$PRUNELAB_MNIST_MIRRORS` (comma
    /// separated) or [`MNIST_MIRRORS`].
    pub mirrors: Vec<String>,
    /// Training images, training labels, test images, test labels.
    pub files: [RemoteFile; 4],
    /// Show download progress (a bar on a terminal, a line per quarter elsewhere, e.g. in a notebook).
    pub progress: bool,
    /// Longest wait for a connection or for the next bytes of a response.
    pub timeout: Duration,
    /// Longest time one download of one file from one mirror may take, from the request to the last byte,
    /// however steadily a slow server trickles bytes; checked between reads, so it can overrun by at most
    /// `timeout`. `None` (the default): two minutes, or the time the file takes at 100 kB/s where that is
    /// longer (for the size the server announces, else [`MAX_FILE_BYTES`]: 11 minutes); two minutes for
    /// each MNIST file.
    pub deadline: Option<Duration>,
}

impl Default for MnistSource {
    fn default() -> Self {
        Self::new()
    }
}

impl MnistSource {
    /// MNIST's files, mirrors (or `$PRUNELAB_MNIST_MIRRORS`), the default cache folder, progress shown, a
    /// 30-second timeout, and the default deadline proportional to each file's size.
    pub fn new() -> Self {
        let mirrors = match std::env::var(MIRRORS_VAR) {
            Ok(list) if !list.trim().is_empty() => list
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
            _ => MNIST_MIRRORS.iter().map(|m| m.to_string()).collect(),
        };
        MnistSource {
            dir: None,
            mirrors,
            files: mnist_files(),
            progress: true,
            timeout: Duration::from_secs(30),
            deadline: None,
        }
    }

    /// Sets the cache folder.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Sets the mirrors (base URLs, tried in order).
    pub fn mirrors<S: Into<String>>(mut self, mirrors: impl IntoIterator<Item = S>) -> Self {
        self.mirrors = mirrors.into_iter().map(Into::into).collect();
        self
    }

    /// Shows or hides download progress.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Sets the connection and read timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the overall deadline for downloading one file from one mirror (instead of the default,
    /// proportional to the file's size).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The deadline for a download whose server announced `size` bytes (if any).
    fn deadline_for(&self, size: Option<u64>) -> Duration {
        self.deadline.unwrap_or_else(|| {
            let bytes = size.unwrap_or(MAX_FILE_BYTES).min(MAX_FILE_BYTES);
            MIN_DEADLINE.max(Duration::from_secs(bytes / MIN_RATE))
        })
    }

    /// The cache folder this source uses.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        if let Some(root) = std::env::var_os(DATA_DIR_VAR).filter(|r| !r.is_empty()) {
            return Ok(PathBuf::from(root).join("mnist"));
        }
        dirs::cache_dir()
            .map(|c| c.join("prunelab").join("mnist"))
            .ok_or_else(|| {
                Error::param(
                    "dir",
                    format!("this platform has no cache folder; set {DATA_DIR_VAR} or the folder"),
                )
            })
    }

    /// Makes sure the cache folder holds all four files, verified, downloading what is missing or corrupt;
    /// returns the folder.
    pub fn fetch(&self) -> Result<PathBuf> {
        self.check()?;
        let dir = self.cache_dir()?;
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        // The mirror that served a file is tried first for the next ones.
        let mut mirrors = self.mirrors.clone();
        for file in &self.files {
            if let Some(k) = self.fetch_file(&dir, file, &mirrors)? {
                let served = mirrors.remove(k);
                mirrors.insert(0, served);
            }
        }
        Ok(dir)
    }

    /// The (train, test) datasets, fetched first where needed.
    pub fn load(&self) -> Result<(Dataset, Dataset)> {
        let dir = self.fetch()?;
        let path = |f: &RemoteFile| dir.join(format!("{}.gz", f.name));
        let [ti, tl, vi, vl] = &self.files;
        let train = idx::mnist_idx(path(ti), path(tl))?;
        let test = idx::mnist_idx(path(vi), path(vl))?;
        Ok((train, test))
    }

    fn check(&self) -> Result<()> {
        if let Some(f) = self
            .files
            .iter()
            .find(|f| f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::param(
                "files",
                format!("{}: SHA-256 must be 64 hex digits", f.name),
            ));
        }
        if let Some(f) = self
            .files
            .iter()
            .find(|f| f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.'))
        {
            return Err(Error::param(
                "files",
                format!("{:?} is not a plain file name", f.name),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::param("timeout", "must be positive"));
        }
        if self.deadline.is_some_and(|d| d.is_zero()) {
            return Err(Error::param("deadline", "must be positive"));
        }
        Ok(())
    }

    /// Leaves `dir/NAME.gz` verified in place: kept if already good, else downloaded from the first of
    /// `mirrors` that serves the right bytes (whose index it returns).
    fn fetch_file(
        &self,
        dir: &Path,
        file: &RemoteFile,
        mirrors: &[String],
    ) -> Result<Option<usize>> {
        let target = dir.join(format!("{}.gz", file.name));
        if target.exists() {
            match verify(&target, &file.sha256) {
                Ok(()) => return Ok(None),
                Err(why) => {
                    if self.progress {
                        say(&format!(
                            "{}: cached copy is bad ({why}); downloading it again",
                            target.display()
                        ));
                    }
                }
            }
        }
        if mirrors.is_empty() {
            return Err(self.offline_error(dir, file, "no mirrors are configured".into()));
        }
        let mut attempts = Vec::new();
        for (k, mirror) in mirrors.iter().enumerate() {
            let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.name);
            match self.download_verified(&url, dir, &target, file) {
                Ok(()) => return Ok(Some(k)),
                Err(Attempt::Stop(e)) => return Err(e),
                Err(Attempt::Failed(why)) => {
                    if self.progress {
                        say(&format!("{url}: {why}"));
                    }
                    attempts.push(format!("  {url}: {why}"));
                }
            }
        }
        Err(self.offline_error(dir, file, attempts.join("\n")))
    }

    fn offline_error(&self, dir: &Path, file: &RemoteFile, attempts: String) -> Error {
        Error::Download {
            file: format!("{}.gz", file.name),
            reason: format!(
                "every mirror failed:\n{attempts}\nOffline? Copy the four files ({}, each as NAME or \
                 NAME.gz) into {} or point {MNIST_DIR_VAR} at a folder that holds them.",
                self.files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display()
            ),
        }
    }

    /// Downloads `url` into a temporary file beside `target`, verifies it, and renames it into place.
    fn download_verified(
        &self,
        url: &str,
        dir: &Path,
        target: &Path,
        file: &RemoteFile,
    ) -> std::result::Result<(), Attempt> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let part = dir.join(format!(".{}.gz.{}-{n}.part", file.name, std::process::id()));
        let result = self
            .download_to(url, &part, file)
            .and_then(|()| verify(&part, &file.sha256).map_err(Attempt::Failed))
            .and_then(|()| {
                std::fs::rename(&part, target).map_err(|source| {
                    Attempt::Stop(Error::Io {
                        path: target.to_path_buf(),
                        source,
                    })
                })
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }

    #[cfg(feature = "download")]
    fn download_to(
        &self,
        url: &str,
        part: &Path,
        file: &RemoteFile,
    ) -> std::result::Result<(), Attempt> {
        let start = Instant::now();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.timeout))
            .timeout_recv_response(Some(self.timeout))
            .timeout_per_read(Some(self.timeout))
            .user_agent(concat!("prunelab/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut response = agent
            .get(url)
            .call()
            .map_err(|e| Attempt::Failed(e.to_string()))?;
        let expected = response.body().content_length();
        if expected.is_some_and(|n| n > MAX_FILE_BYTES) {
            return Err(Attempt::Failed(format!(
                "the server announces {} bytes, more than the {MAX_FILE_BYTES} a file may have",
                expected.unwrap_or(0)
            )));
        }
        let mut reader = response
            .body_mut()
            .with_config()
            .limit(MAX_FILE_BYTES)
            .reader();
        let mut out = File::create(part).map_err(|source| {
            Attempt::Stop(Error::Io {
                path: part.to_path_buf(),
                source,
            })
        })?;
        let mut progress = Progress::new(self.progress, &file.name, url, expected);
        let mut buf = vec![0u8; 64 << 10];
        let mut received = 0u64;
        // Each read waits at most `timeout`; checked between reads, this bounds the whole download.
        let deadline = self.deadline_for(expected);
        loop {
            if start.elapsed() > deadline {
                progress.abandon();
                return Err(Attempt::Failed(format!(
                    "{}: not complete within its deadline of {:.1} s: {received} of {} bytes received \
                     (MnistSource::deadline sets a longer one for a slow connection)",
                    file.name,
                    deadline.as_secs_f64(),
                    expected.map_or_else(|| "an unknown number of".into(), |n| n.to_string()),
                )));
            }
            crate::interrupt::checkpoint("the download", || {
                format!("at {received} bytes of {url}")
            })
            .map_err(Attempt::Stop)?;
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    progress.abandon();
                    return Err(Attempt::Failed(format!("after {received} bytes: {e}")));
                }
            };
            out.write_all(&buf[..n]).map_err(|source| {
                Attempt::Stop(Error::Io {
                    path: part.to_path_buf(),
                    source,
                })
            })?;
            received += n as u64;
            progress.advance(received);
        }
        if let Some(n) = expected.filter(|&n| n != received) {
            progress.abandon();
            return Err(Attempt::Failed(format!(
                "truncated: {received} of {n} bytes"
            )));
        }
        out.sync_all().map_err(|source| {
            Attempt::Stop(Error::Io {
                path: part.to_path_buf(),
                source,
            })
        })?;
        progress.finish(received);
        Ok(())
    }

    #[cfg(not(feature = "download"))]
    fn download_to(
        &self,
        url: &str,
        _part: &Path,
        _file: &RemoteFile,
    ) -> std::result::Result<(), Attempt> {
        Err(Attempt::Failed(format!(
            "not fetched: prunelab was built without its `download` feature ({url})"
        )))
    }
}

/// A progress line: to stderr on a terminal (beside the bar), to stdout elsewhere, so a notebook shows it as
/// ordinary output (a notebook runner treats text on stderr as a failing cell).
fn say(line: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// Why one mirror did not give the file: try the next one, or stop (a local I/O error, an interrupt).
enum Attempt {
    Failed(String),
    Stop(Error),
}

/// Checks that a (gzip-compressed or plain) file decompresses to at most [`MAX_FILE_BYTES`] bytes with the
/// given SHA-256.
fn verify(path: &Path, sha256: &str) -> std::result::Result<(), String> {
    use std::io::BufRead;
    let mut raw = std::io::BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let gzip = raw
        .fill_buf()
        .map_err(|e| e.to_string())?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("corrupt or truncated gzip stream: {e}")),
        };
        total += n as u64;
        if total > MAX_FILE_BYTES {
            return Err(format!("decompresses to more than {MAX_FILE_BYTES} bytes"));
        }
        hasher.update(&buf[..n]);
    }
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if found == sha256 {
        Ok(())
    } else {
        Err(format!("SHA-256 {found}, expected {sha256}"))
    }
}

/// Download progress: an indicatif bar on a terminal, plain lines at each quarter elsewhere (a notebook
/// shows a cell's output line by line).
#[cfg(feature = "download")]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: bool,
    name: String,
    total: Option<u64>,
    quarter: u64,
    start: std::time::Instant,
}

#[cfg(feature = "download")]
impl Progress {
    fn new(show: bool, name: &str, url: &str, total: Option<u64>) -> Self {
        use std::io::IsTerminal;
        let terminal = show && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = total.map_or_else(
                indicatif::ProgressBar::no_length,
                indicatif::ProgressBar::new,
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:24} [{bar:30}] {bytes:>9}/{total_bytes:9} {bytes_per_sec:>11} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(name.to_string());
            bar
        });
        if show && !terminal {
            say(&format!("downloading {url} ({})", megabytes(total)));
        }
        Progress {
            bar,
            lines: show && !terminal,
            name: name.to_string(),
            total,
            quarter: 0,
            start: std::time::Instant::now(),
        }
    }

    fn advance(&mut self, received: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(received);
        } else if let (true, Some(total)) = (self.lines, self.total.filter(|&t| t > 0)) {
            let quarter = (received * 4 / total).min(4);
            if quarter > self.quarter && quarter < 4 {
                self.quarter = quarter;
                say(&format!("  {}: {}%", self.name, quarter * 25));
            }
        }
    }

    fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }

    fn finish(&mut self, received: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        } else if self.lines {
            say(&format!(
                "  {}: {} in {:.1} s",
                self.name,
                megabytes(Some(received)),
                self.start.elapsed().as_secs_f64()
            ));
        }
    }
}

#[cfg(feature = "download")]
fn megabytes(bytes: Option<u64>) -> String {
    match bytes {
        None => "size unknown".into(),
        Some(b) if b < 1_000_000 => format!("{:.0} kB", b as f64 / 1e3),
        Some(b) => format!("{:.1} MB", b as f64 / 1e6),
    }
}
