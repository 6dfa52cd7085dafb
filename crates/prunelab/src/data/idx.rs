//! MNIST's IDX file format (images and labels), plain or gzip-compressed.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use crate::data::Dataset;
use crate::error::{Error, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn format_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: PathBuf::from(path),
        reason: reason.into(),
    }
}

/// Reads an IDX file (plain or gzip): checks the magic number, returns the dimensions and the payload.
/// Allocates only as the bytes arrive (never what the header merely claims), decompresses a gzip stream
/// only as far as the header promises, and fails on a payload shorter or longer than promised.
fn read_idx(path: &Path, magic: u32, n_dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let file_len = file.metadata().map_err(io_error)?.len();
    let mut buffered = std::io::BufReader::new(file);
    let gzip = buffered
        .fill_buf()
        .map_err(io_error)?
        .starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let header_len = 4 + 4 * n_dims;
    let mut header = vec![0u8; header_len];
    // The magic number first (a labels file given for images is named as such), then the dimensions.
    for (from, to) in [(0, 4), (4, header_len)] {
        let mut got = from;
        while got < to {
            match reader.read(&mut header[got..to]) {
                Ok(0) => {
                    return Err(format_error(
                        path,
                        format!("truncated header: {got} bytes, need {header_len}"),
                    ))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format_error(path, format!("bad gzip stream: {e}"))),
            }
        }
        if from == 0 {
            let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
            if found != magic {
                return Err(format_error(
                    path,
                    format!("wrong magic number {found:#010x}, expected {magic:#010x}"),
                ));
            }
        }
    }
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let dims: Vec<usize> = (0..n_dims).map(|d| word(4 + 4 * d) as usize).collect();
    let promised = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| format_error(path, "dimensions overflow"))?;
    let short = |data: u64| format!("truncated: {data} data bytes, header promises {promised}");
    if !gzip && file_len != header_len as u64 + promised {
        let data = file_len.saturating_sub(header_len as u64);
        return Err(format_error(
            path,
            if data < promised {
                short(data)
            } else {
                format!("{data} data bytes, header promises {promised}")
            },
        ));
    }
    let mut payload = Vec::new();
    reader
        .take(promised.saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(|e| format_error(path, format!("bad gzip stream: {e}")))?;
    let data = payload.len() as u64;
    if data < promised {
        return Err(format_error(path, short(data)));
    }
    if data > promised {
        return Err(format_error(
            path,
            format!("the stream holds more data than the header promises ({promised} bytes)"),
        ));
    }
    Ok((dims, payload))
}

/// Reads an IDX image file (`magic 0x00000803`, `n × rows × cols` bytes) into a `(n, rows·cols)` matrix
/// with intensities scaled to `[0, 1]`. Gzip-compressed files are recognised.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let (dims, payload) = read_idx(path, IMAGES_MAGIC, 3)?;
    if dims[0] == 0 || dims[1] == 0 || dims[2] == 0 {
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
    let (_, payload) = read_idx(path, LABELS_MAGIC, 1)?;
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
