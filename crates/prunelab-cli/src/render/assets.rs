//! What both backends share: a notebook's [`Entry`], the images of its outputs (decoded, with alt text),
//! links to files whose names need percent-encoding, and writing a file together with its folder.
//! Neither backend is used here.

use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::Value;

use crate::notebook::{stem, Notebook};

/// A rendered notebook: its page, its entry in the site's index, its post's front matter.
pub(crate) struct Entry {
    /// The file stem, used in URLs and file names.
    pub slug: String,
    /// The title.
    pub title: String,
    /// A one-paragraph summary.
    pub excerpt: String,
    /// Tags.
    pub tags: Vec<String>,
}

impl Entry {
    /// The entry of the notebook `nb`, read from `path`.
    pub(crate) fn of(nb: &Notebook, path: &Path) -> Self {
        Entry {
            slug: stem(path),
            title: nb.title(path),
            excerpt: nb.excerpt(),
            tags: nb.tags(),
        }
    }
}

/// Characters left as they are in a link's path segment: letters, digits and `-._~` (RFC 3986's unreserved);
/// everything else (`#`, `?`, `%`, spaces, non-ASCII) is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A relative path (`/`-separated) as a link: each segment percent-encoded, so a notebook named `a#b?.ipynb`
/// links to its own page and images.
pub(crate) fn url_path(path: &str) -> String {
    path.split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// An output's image, if it holds one: its bytes and file extension (`gif` for an animation, which also
/// carries its final frame as a PNG for converters that cannot show a GIF, else `png`).
pub(crate) fn decode_image(
    slug: &str,
    cell: usize,
    data: &[(String, String)],
) -> Result<Option<(Vec<u8>, &'static str)>> {
    let find = |mime: &str| data.iter().find(|(m, _)| m == mime);
    let Some((mime, b64)) = find("image/gif").or_else(|| find("image/png")) else {
        return Ok(None);
    };
    let ext = if mime == "image/gif" { "gif" } else { "png" };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.split_whitespace().collect::<String>())
        .with_context(|| {
            format!(
                "{slug}: cell {} holds an image that is not base64",
                cell + 1
            )
        })?;
    Ok(Some((bytes, ext)))
}

/// Alt text for an image: the alt text in the output's metadata (prunelab's charts and animations give their
/// title or description there), else a chart's title carried in its PNG, else what it is.
pub(crate) fn alt_text(
    bytes: &[u8],
    ext: &str,
    metadata: &serde_json::Map<String, Value>,
) -> String {
    let mime = if ext == "gif" {
        "image/gif"
    } else {
        "image/png"
    };
    let given = metadata
        .get(mime)
        .and_then(|m| m.get("alt"))
        .and_then(Value::as_str)
        .filter(|alt| !alt.trim().is_empty())
        .map(str::to_string);
    given.unwrap_or_else(|| match ext {
        "gif" => "animation".to_string(),
        _ => png_title(bytes).unwrap_or_else(|| "chart".into()),
    })
}

/// The title a PNG carries in its `Title` text chunk (prunelab's charts write one), for alt text.
fn png_title(bytes: &[u8]) -> Option<String> {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .ok()?;
    let info = reader.info();
    info.utf8_text
        .iter()
        .find(|t| t.keyword == "Title")
        .and_then(|t| t.get_text().ok())
        .or_else(|| {
            info.uncompressed_latin1_text
                .iter()
                .find(|t| t.keyword == "Title")
                .map(|t| t.text.clone())
        })
        .filter(|t| !t.trim().is_empty())
}

/// An output's content of one MIME type.
pub(crate) fn get<'a>(data: &'a [(String, String)], mime: &str) -> Option<&'a str> {
    data.iter()
        .find(|(m, _)| m == mime)
        .map(|(_, v)| v.as_str())
}

/// Writes `contents` to `file`, creating its folder first.
pub(crate) fn write_file(file: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(file, contents).with_context(|| format!("writing {}", file.display()))
}

/// A notebook for the backends' tests: a title, a code cell with a stream and a 1x1 PNG.
#[cfg(test)]
pub(crate) fn sample_notebook() -> Notebook {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    Notebook {
        doc: serde_json::json!({"nbformat": 4, "nbformat_minor": 5,
        "metadata": {"tags": ["pruning", "iris"]},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Iris sweep\n\nThresholds <and> AP."},
            {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "let x = 1;\nx",
             "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["hello\n"]},
                {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                 "data": {"image/png": png, "text/plain": "chart"}}
             ]}
        ]}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_percent_encode_each_segment() {
        assert_eq!(
            url_path("iris_files/iris_1_1.png"),
            "iris_files/iris_1_1.png"
        );
        assert_eq!(
            url_path("a#b?_files/x y%.png"),
            "a%23b%3F_files/x%20y%25.png"
        );
        assert_eq!(url_path("réseau.html"), "r%C3%A9seau.html");
    }

    #[test]
    fn images_are_decoded_with_their_kind_and_alt_text() {
        let nb = sample_notebook();
        let cells = nb.cells();
        let outputs = cells[1].outputs().unwrap();
        let crate::notebook::Output::Data { data, .. } = &outputs[1] else {
            panic!("{outputs:?}")
        };
        let (bytes, ext) = decode_image("iris", 1, data).unwrap().unwrap();
        assert_eq!((&bytes[1..4], ext), (&b"PNG"[..], "png"));
        // A PNG without a Title chunk is a chart; a GIF an animation.
        let none = serde_json::Map::new();
        assert_eq!(alt_text(&bytes, ext, &none), "chart");
        assert_eq!(alt_text(b"GIF89a", "gif", &none), "animation");
        let given = serde_json::json!({"image/gif": {"alt": "Animation of 3 frames"}});
        assert_eq!(
            alt_text(b"GIF89a", "gif", given.as_object().unwrap()),
            "Animation of 3 frames"
        );
        assert_eq!(get(data, "text/plain"), Some("chart"));
        assert_eq!(get(data, "text/html"), None);
        let text = [("text/plain".to_string(), "1".to_string())];
        assert!(decode_image("iris", 1, &text).unwrap().is_none());
        let bad = [("image/gif".to_string(), "not base64!".to_string())];
        let err = decode_image("iris", 1, &bad).unwrap_err().to_string();
        assert!(err.contains("iris: cell 2"), "{err}");
    }
}
