//! MNIST's IDX file format (images and labels), plain or gzip-compressed.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use crate::data::Dataset;
use crate::error::{Error, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format_error(path, format!("bad gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn format_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: PathBuf::from(path),
        reason: reason.into(),
    }
}

/// Parses the header: checks the magic number, returns the dimensions and the payload.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    n_dims: usize,
) -> Result<(Vec<usize>, &'a [u8])> {
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 {
        return Err(format_error(
            path,
            format!("truncated header: {} bytes", bytes.len()),
        ));
    }
    let found = word(0);
    if found != magic {
        return Err(format_error(
            path,
            format!("wrong magic number {found:#010x}, expected {magic:#010x}"),
        ));
    }
    let header_len = 4 + 4 * n_dims;
    if bytes.len() < header_len {
        return Err(format_error(
            path,
            format!("truncated header: {} bytes, need {header_len}", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..n_dims).map(|d| word(4 + 4 * d) as usize).collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let payload = &bytes[header_len..];
    match expected {
        Some(len) if payload.len() == len => Ok((dims, payload)),
        Some(len) if payload.len() < len => Err(format_error(
            path,
            format!(
                "truncated: {} data bytes, header promises {len}",
                payload.len()
            ),
        )),
        Some(len) => Err(format_error(
            path,
            format!("{} data bytes, header promises {len}", payload.len()),
        )),
        None => Err(format_error(path, "dimensions overflow")),
    }
}

/// Reads an IDX image file (`magic 0x00000803`, `n × rows × cols` bytes) into a `(n, rows·cols)` matrix
/// with intensities scaled to `[0, 1]`. Gzip-compressed files are recognised.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let (dims, payload) = parse(path, &bytes, IMAGES_MAGIC, 3)?;
    if dims[0] == 0 || dims[1] * dims[2] == 0 {
        return Err(Error::Empty {
            what: "IDX image file",
        });
    }
    let pixels = payload.iter().map(|&b| b as f32 / 255.0).collect();
    Array2::from_shape_vec((dims[0], dims[1] * dims[2]), pixels)
        .map_err(|e| format_error(path, e.to_string()))
}

/// Reads an IDX label file (`magic 0x00000801`, `n` bytes).
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Array1<usize>> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let (_, payload) = parse(path, &bytes, LABELS_MAGIC, 1)?;
    Ok(payload.iter().map(|&b| b as usize).collect())
}

/// Loads MNIST-style images and labels into a 10-class dataset. Fails on a wrong magic number, a truncated
/// file, or differing image and label counts.
pub fn mnist_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
    let records = read_idx_images(images.as_ref())?;
    let labels_arr = read_idx_labels(labels.as_ref())?;
    if records.nrows() != labels_arr.len() {
        return Err(Error::ShapeMismatch {
            context: "mnist_idx",
            expected: format!("{} labels (one per image)", records.nrows()),
            found: format!("{} labels", labels_arr.len()),
        });
    }
    Ok(Dataset::classification(records, labels_arr, 10)?
        .with_class_names((0..10).map(|d| d.to_string())))
}

/// The four MNIST files in `dir` (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each plain or with `.gz`), as the (train, test) datasets. A missing file is an
/// [`Error::Io`] naming the path looked for.
pub fn mnist_dir(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    let find = |name: &str| {
        let plain = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        if !plain.exists() && gz.exists() {
            gz
        } else {
            plain
        }
    };
    let train = mnist_idx(
        find("train-images-idx3-ubyte"),
        find("train-labels-idx1-ubyte"),
    )?;
    let test = mnist_idx(
        find("t10k-images-idx3-ubyte"),
        find("t10k-labels-idx1-ubyte"),
    )?;
    Ok((train, test))
}
