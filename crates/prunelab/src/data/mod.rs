//! Datasets: the [`Dataset`] type, bundled sets (iris, digits, XOR, cos/sin), splitting, standardisation,
//! the MNIST IDX loader, and MNIST itself (downloaded and cached on first use).

mod builtin;
mod dataset;
mod idx;
mod mnist;
mod standardize;

pub use builtin::{cos_sin, digits, iris, iris_binary, xor};
pub use dataset::{Dataset, Targets};
pub use idx::{mnist_dir, mnist_idx, read_idx_images, read_idx_labels};
pub use mnist::{
    mnist, mnist_files, MnistSource, RemoteFile, DATA_DIR_VAR, MAX_FILE_BYTES, MIRRORS_VAR,
    MNIST_DIR_VAR, MNIST_MIRRORS,
};
pub use standardize::Standardizer;
