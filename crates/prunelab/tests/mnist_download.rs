//! `data::mnist()` and `MnistSource` against a local HTTP server on 127.0.0.1: download, verification, the
//! cache, and every way a mirror can fail. Nothing here touches the internet.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prunelab::data::{self, MnistSource, RemoteFile};
use prunelab::Error;
use sha2::{Digest, Sha256};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn idx_images(n: u32, side: u32, seed: u8) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, side, side] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..n * side * side).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

/// A small dataset in MNIST's four-file layout: names, decompressed bytes.
fn fake_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("train-images-idx3-ubyte".into(), idx_images(12, 4, 1)),
        ("train-labels-idx1-ubyte".into(), idx_labels(12)),
        ("t10k-images-idx3-ubyte".into(), idx_images(5, 4, 2)),
        ("t10k-labels-idx1-ubyte".into(), idx_labels(5)),
    ]
}

fn remote(files: &[(String, Vec<u8>)]) -> [RemoteFile; 4] {
    let r: Vec<RemoteFile> = files
        .iter()
        .map(|(n, b)| RemoteFile::new(n.clone(), sha256(b)))
        .collect();
    r.try_into().unwrap()
}

/// A small `.gz` that inflates to more than a file may have.
fn bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| gzip(&vec![0u8; (data::MAX_FILE_BYTES + 1024) as usize]))
}

/// A server with one folder per behaviour: `/good/` serves the files, `/missing/` answers 404,
/// `/truncated/` half of each `.gz`, `/wrong/` a valid `.gz` of other bytes, `/bomb/` a small `.gz` that
/// inflates past the size limit. Counts requests per path.
struct Server {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    fn start(files: Vec<(String, Vec<u8>)>) -> Server {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let seen = hits.clone();
        let gz: HashMap<String, Vec<u8>> = files
            .iter()
            .map(|(n, b)| (format!("{n}.gz"), gzip(b)))
            .collect();
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                let url = request.url().to_string();
                *seen.lock().unwrap().entry(url.clone()).or_insert(0) += 1;
                let mut parts = url.trim_start_matches('/').splitn(2, '/');
                let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = gz.get(name).map(|bytes| match kind {
                    "good" => Some(bytes.clone()),
                    "truncated" => Some(bytes[..bytes.len() / 2].to_vec()),
                    "wrong" => Some(gzip(b"not the file you are looking for")),
                    "bomb" => Some(bomb().to_vec()),
                    _ => None,
                });
                let response = match body.flatten() {
                    Some(b) => tiny_http::Response::from_data(b).boxed(),
                    None => tiny_http::Response::empty(404).boxed(),
                };
                let _ = request.respond(response);
            }
        });
        Server { base, hits }
    }

    fn url(&self, kind: &str) -> String {
        format!("{}/{kind}/", self.base)
    }

    fn hits(&self, kind: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u.starts_with(&format!("/{kind}/")))
            .map(|(_, n)| n)
            .sum()
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("prunelab-mnist-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn source(dir: &Path, files: &[(String, Vec<u8>)], mirrors: &[String]) -> MnistSource {
    let mut s = MnistSource::new()
        .dir(dir)
        .mirrors(mirrors.to_vec())
        .progress(false)
        .timeout(Duration::from_secs(10));
    s.files = remote(files);
    s
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A port on 127.0.0.1 that refuses connections.
fn refused() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn downloads_verifies_and_caches() {
    let files = fake_files();
    let server = Server::start(files.clone());
    let dir = temp_dir("cache");
    let (train, test) = source(&dir, &files, &[server.url("good")]).load().unwrap();
    assert_eq!((train.n_samples(), train.n_features()), (12, 16));
    assert_eq!((test.n_samples(), test.n_features()), (5, 16));
    assert_eq!(train.labels().unwrap()[11], 1);
    assert!((train.records[[0, 1]] - 8.0 / 255.0).abs() < 1e-7);
    assert_eq!(server.hits("good"), 4);
    // Exactly the four files, no temporary leftovers.
    let expected: Vec<String> = {
        let mut v: Vec<String> = files.iter().map(|(n, _)| format!("{n}.gz")).collect();
        v.sort();
        v
    };
    assert_eq!(listing(&dir), expected);
    // A second load reads the cache: no request, even with no reachable mirror.
    let (again, _) = source(&dir, &files, &[refused()]).load().unwrap();
    assert_eq!(again, train);
    assert_eq!(server.hits("good"), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failing_mirrors_are_skipped_in_order() {
    let files = fake_files();
    let server = Server::start(files.clone());
    let dir = temp_dir("fallback");
    let mirrors = [
        refused(),
        server.url("missing"),
        server.url("truncated"),
        server.url("wrong"),
        server.url("bomb"),
        server.url("good"),
    ];
    let (train, _) = source(&dir, &files, &mirrors).load().unwrap();
    assert_eq!(train.n_samples(), 12);
    // Every bad mirror was tried, in order, for the first file; the one that served it first for the rest.
    for kind in ["missing", "truncated", "wrong", "bomb"] {
        assert_eq!(server.hits(kind), 1, "{kind}");
    }
    assert_eq!(server.hits("good"), 4);
    assert_eq!(listing(&dir).len(), 4, "{:?}", listing(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

fn only_mirror_fails(kind: &str, expect: &str) {
    let files = fake_files();
    let server = Server::start(files.clone());
    let dir = temp_dir(kind);
    let err = source(&dir, &files, &[server.url(kind)])
        .load()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    assert!(msg.contains(expect), "{kind}: {msg}");
    assert!(msg.contains("train-images-idx3-ubyte.gz"), "{msg}");
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains(data::MNIST_DIR_VAR),
        "the error says where to put the files: {msg}"
    );
    // Nothing bad is left in the cache: no partial file, no unverified file.
    assert!(listing(&dir).is_empty(), "{kind}: {:?}", listing(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_download_is_not_kept() {
    only_mirror_fails("truncated", "gzip");
}

#[test]
fn a_file_with_the_wrong_hash_is_not_kept() {
    only_mirror_fails("wrong", "SHA-256");
}

#[test]
fn a_decompression_bomb_is_refused() {
    only_mirror_fails("bomb", "more than");
}

#[test]
fn a_missing_file_is_reported() {
    only_mirror_fails("missing", "404");
}

#[test]
fn offline_without_a_cache_says_where_to_put_the_files() {
    let files = fake_files();
    let dir = temp_dir("offline");
    let err = source(&dir, &files, &[refused()]).load().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("Offline?") && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_cached_file_is_downloaded_again() {
    let files = fake_files();
    let server = Server::start(files.clone());
    let dir = temp_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("t10k-labels-idx1-ubyte.gz");
    std::fs::write(&bad, gzip(b"stale")).unwrap();
    let (_, test) = source(&dir, &files, &[server.url("good")]).load().unwrap();
    assert_eq!(test.n_samples(), 5);
    // The bad file was fetched again, with the three that were missing.
    assert_eq!(server.hits("good"), 4);
    let (_, again) = source(&dir, &files, &[refused()]).load().unwrap();
    assert_eq!(again, test);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_errors() {
    let files = fake_files();
    let dir = temp_dir("settings");
    let mut s = source(&dir, &files, &[refused()]);
    s.files[0].sha256 = "abc".into();
    assert!(matches!(
        s.load(),
        Err(Error::InvalidParam { name: "files", .. })
    ));
    let mut s = source(&dir, &files, &[refused()]);
    s.files[1].name = "../escape".into();
    assert!(matches!(
        s.load(),
        Err(Error::InvalidParam { name: "files", .. })
    ));
    let s = source(&dir, &files, &[]).timeout(Duration::ZERO);
    assert!(matches!(
        s.load(),
        Err(Error::InvalidParam {
            name: "timeout",
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The real MNIST files: `PRUNELAB_MNIST_DIR` (as CI sets it) or the shared copy beside this checkout.
fn shared_mnist() -> Option<PathBuf> {
    let env = std::env::var_os(data::MNIST_DIR_VAR).map(PathBuf::from);
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    env.into_iter()
        .chain([beside])
        .find(|dir| dir.join("train-images-idx3-ubyte.gz").exists())
}

#[test]
fn real_mnist_through_the_default_hashes() {
    let Some(shared) = shared_mnist() else {
        eprintln!("skipped: no ../shared/data/mnist beside this checkout");
        return;
    };
    // Serve the real files (their .gz as they are) and let the default MNIST hashes verify them.
    let files: Vec<(String, Vec<u8>)> = data::mnist_files()
        .iter()
        .map(|f| {
            let gz = std::fs::read(shared.join(format!("{}.gz", f.name))).unwrap();
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw)
                .unwrap();
            (f.name.clone(), raw)
        })
        .collect();
    let server = Server::start(files);
    let dir = temp_dir("real");
    let source = MnistSource::new()
        .dir(&dir)
        .mirrors([server.url("missing"), server.url("good")])
        .progress(false);
    assert_eq!(source.files, data::mnist_files());
    let (train, test) = source.load().unwrap();
    assert_eq!((train.n_samples(), train.n_features()), (60_000, 784));
    assert_eq!(test.n_samples(), 10_000);
    // The first training image is a 5, the first test image a 7.
    assert_eq!(
        (train.labels().unwrap()[0], test.labels().unwrap()[0]),
        (5, 7)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
