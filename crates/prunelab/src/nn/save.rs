//! Saving and loading networks, masks included, as JSON or as a compact checksummed binary (the form is
//! [`super::file`]'s).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::file::{format_error, ModelFile, HEADER, MAGIC, VERSION};
use super::Mlp;
use crate::error::{Error, Result};

impl Mlp {
    /// The network's stored form.
    fn to_file(&self) -> ModelFile {
        ModelFile::from_parts(self.n_inputs, self.topology, &self.layers)
    }

    /// A network from its stored form, checked.
    fn from_file(f: ModelFile) -> std::result::Result<Self, String> {
        let (n_inputs, topology, layers) = f.into_parts()?;
        Mlp::from_layers(n_inputs, topology, layers).map_err(|e| e.to_string())
    }
}

/// The file form is the model's serde form: JSON, postcard, and anything else serde writes.
impl Serialize for Mlp {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.to_file().serialize(serializer)
    }
}

/// Reads the file form, with every check of [`Mlp::from_bytes`]: a value that is not a valid network is an
/// error, never a network that breaks an invariant.
impl<'de> Deserialize<'de> for Mlp {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        Mlp::from_file(ModelFile::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl Mlp {
    /// The network as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| format_error(Path::new("<json>"), e.to_string()))
    }

    /// A network from JSON written by [`Mlp::to_json`].
    pub fn from_json(json: &str) -> Result<Mlp> {
        serde_json::from_str(json).map_err(|e| format_error(Path::new("<json>"), e.to_string()))
    }

    /// The network in the compact binary form: a magic tag, version, length and CRC-32, then the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body = postcard::to_stdvec(&self.to_file())
            .map_err(|e| format_error(Path::new("<bytes>"), e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// A network from bytes written by [`Mlp::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Mlp> {
        Self::parse_bytes(bytes, Path::new("<bytes>"))
    }

    fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Mlp> {
        if bytes.len() < HEADER {
            return Err(format_error(
                path,
                format!("truncated: {} bytes, header needs {HEADER}", bytes.len()),
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err(format_error(
                path,
                "not a prunelab binary network (bad magic)",
            ));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(format_error(path, format!("unsupported version {version}")));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let body = &bytes[HEADER..];
        if (body.len() as u64) < len {
            return Err(format_error(
                path,
                format!("truncated: body has {} of {len} bytes", body.len()),
            ));
        }
        if body.len() as u64 != len {
            return Err(format_error(
                path,
                format!("{} trailing bytes", body.len() as u64 - len),
            ));
        }
        if crc32fast::hash(body) != crc {
            return Err(format_error(path, "checksum mismatch: the file is corrupt"));
        }
        let file: ModelFile =
            postcard::from_bytes(body).map_err(|e| format_error(path, e.to_string()))?;
        Mlp::from_file(file).map_err(|e| format_error(path, e))
    }

    /// Saves to `path`: JSON when the extension is `.json`, the binary form otherwise.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = if is_json(path) {
            self.to_json()?.into_bytes()
        } else {
            self.to_bytes()?
        };
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Loads from `path` (JSON when the extension is `.json`, binary otherwise).
    pub fn load(path: impl AsRef<Path>) -> Result<Mlp> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if is_json(path) {
            let text =
                std::str::from_utf8(&bytes).map_err(|e| format_error(path, e.to_string()))?;
            serde_json::from_str(text).map_err(|e| format_error(path, e.to_string()))
        } else {
            Self::parse_bytes(&bytes, path)
        }
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}
