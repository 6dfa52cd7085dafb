//! `data::mnist()` reads the folder named by `PRUNELAB_MNIST_DIR` and downloads nothing. Its own test binary:
//! it sets a process-wide variable that other tests read.

use std::io::Write;

fn idx(magic: u8, dims: &[u32], payload: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut v = vec![0, 0, 8, magic];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend(payload);
    v
}

#[test]
fn mnist_reads_the_folder_named_by_the_environment() {
    let dir = std::env::temp_dir().join(format!("prunelab-mnist-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        (
            "train-images-idx3-ubyte",
            idx(3, &[12, 4, 4], (0..192).map(|i| i as u8)),
        ),
        (
            "train-labels-idx1-ubyte",
            idx(1, &[12], (0..12).map(|i| i % 10)),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx(3, &[5, 4, 4], (0..80).map(|i| i as u8)),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx(1, &[5], (0..5).map(|i| i % 10)),
        ),
    ];
    for (name, bytes) in files {
        // One file gzipped, to show both forms are read.
        if name.starts_with("t10k-labels") {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&bytes).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    std::env::set_var(prunelab::data::MNIST_DIR_VAR, &dir);
    // No mirror is reachable: a download attempt would fail.
    std::env::set_var(prunelab::data::MIRRORS_VAR, "http://127.0.0.1:9/");
    let (train, test) = prunelab::data::mnist().unwrap();
    assert_eq!(
        (train.n_samples(), train.n_features(), test.n_samples()),
        (12, 16, 5)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
