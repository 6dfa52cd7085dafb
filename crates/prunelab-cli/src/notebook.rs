//! Reading and writing Jupyter notebooks (nbformat 4) as JSON, keeping every field this tool does not own.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

/// A notebook: the JSON document, with typed access to what the runner and renderer need.
#[derive(Debug, Clone)]
pub struct Notebook {
    /// The whole document, as read.
    pub doc: Value,
}

/// One output of a code cell, in nbformat's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Text printed to `stdout` or `stderr`.
    Stream {
        /// `stdout` or `stderr`.
        name: String,
        /// The text, lines ending in `\n`.
        text: String,
    },
    /// A cell's value or a displayed object: MIME type to content (images base64).
    Data {
        /// `execute_result` (with the cell's count) or `display_data`.
        execution_count: Option<u64>,
        /// MIME type to content.
        data: Vec<(String, String)>,
        /// MIME type to that content's metadata (an image's `alt` text, say), as nbformat stores it.
        metadata: Map<String, Value>,
    },
    /// A failed cell.
    Error {
        /// The error's kind.
        ename: String,
        /// The message.
        evalue: String,
        /// The full report, line by line.
        traceback: Vec<String>,
    },
}

/// nbformat's multiline strings: one string, or a list of lines.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Stream text as JupyterLab and a terminal show it: a carriage return goes back to the start of its line
/// and what follows overwrites what was there (`"abc\rx"` shows `"xbc"`; `"\r\n"` is a newline). A
/// progress bar's redraws collapse to its last state, so stored outputs hold what the reader saw, and the
/// same on every run whatever the redraws' timing.
pub fn apply_carriage_returns(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let mut shown: Vec<char> = Vec::new();
        for piece in line.split('\r') {
            for (at, c) in piece.chars().enumerate() {
                match shown.get_mut(at) {
                    Some(old) => *old = c,
                    None => shown.push(c),
                }
            }
        }
        out.extend(shown);
    }
    out
}

/// Splits text into nbformat's list of lines, each but the last keeping its `\n`.
pub fn lines_of(text: &str) -> Value {
    Value::Array(
        text.split_inclusive('\n')
            .map(|l| Value::String(l.to_string()))
            .collect(),
    )
}

impl Output {
    /// The nbformat JSON of this output.
    pub fn to_json(&self) -> Value {
        match self {
            Output::Stream { name, text } => {
                json!({"output_type": "stream", "name": name, "text": lines_of(text)})
            }
            Output::Data {
                execution_count,
                data,
                metadata,
            } => {
                let mut map = Map::new();
                for (mime, content) in data {
                    let value = if mime.starts_with("image/") && mime != "image/svg+xml" {
                        Value::String(content.split_whitespace().collect())
                    } else {
                        lines_of(content)
                    };
                    map.insert(mime.clone(), value);
                }
                match execution_count {
                    Some(n) => json!({"output_type": "execute_result", "execution_count": n,
                        "data": map, "metadata": metadata}),
                    None => {
                        json!({"output_type": "display_data", "data": map, "metadata": metadata})
                    }
                }
            }
            Output::Error {
                ename,
                evalue,
                traceback,
            } => json!({"output_type": "error", "ename": ename, "evalue": evalue,
                "traceback": traceback}),
        }
    }

    /// Reads an output from nbformat JSON (unknown kinds are an error).
    pub fn from_json(v: &Value) -> Result<Output> {
        let kind = v.get("output_type").and_then(Value::as_str).unwrap_or("");
        Ok(match kind {
            "stream" => Output::Stream {
                name: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("stdout")
                    .to_string(),
                // As the reader saw it: a progress bar's redraws (stored raw by some clients) collapse.
                text: apply_carriage_returns(&text_of(v.get("text").unwrap_or(&Value::Null))),
            },
            "execute_result" | "display_data" => {
                let data = v
                    .get("data")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), text_of(v))).collect())
                    .unwrap_or_default();
                Output::Data {
                    execution_count: if kind == "execute_result" {
                        v.get("execution_count").and_then(Value::as_u64)
                    } else {
                        None
                    },
                    data,
                    metadata: v
                        .get("metadata")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                }
            }
            "error" => Output::Error {
                ename: v
                    .get("ename")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                evalue: v
                    .get("evalue")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                traceback: v
                    .get("traceback")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(|l| l.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            other => bail!("unknown output type {other:?}"),
        })
    }

    /// The output's text as a reader sees it (what `check` compares): stream text, the HTML or plain text
    /// of a value, the error message; `None` for outputs with only images.
    pub fn comparable_text(&self) -> Option<String> {
        match self {
            Output::Stream { name, text } => Some(format!("[{name}] {text}")),
            Output::Data { data, .. } => {
                let get = |m: &str| data.iter().find(|(k, _)| k == m).map(|(_, v)| v.clone());
                // An image's HTML form embeds its pixels: what a reader compares is its text (the title).
                let image = data.iter().any(|(k, _)| k.starts_with("image/"));
                if image { None } else { get("text/html") }
                    .or_else(|| get("text/plain"))
                    .map(|t| format!("[value] {t}"))
            }
            Output::Error { ename, evalue, .. } => Some(format!("[error] {ename}: {evalue}")),
        }
    }
}

/// A cell, borrowed from the document.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    /// The cell's JSON.
    pub json: &'a Value,
}

impl<'a> Cell<'a> {
    /// `code`, `markdown` or `raw`.
    pub fn kind(&self) -> &'a str {
        self.json
            .get("cell_type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The cell's source text.
    pub fn source(&self) -> String {
        text_of(self.json.get("source").unwrap_or(&Value::Null))
    }

    /// The cell's tags (`metadata.tags`).
    pub fn tags(&self) -> Vec<&'a str> {
        self.json
            .pointer("/metadata/tags")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the cell carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().contains(&tag)
    }

    /// The cell's stored outputs.
    pub fn outputs(&self) -> Result<Vec<Output>> {
        self.json
            .get("outputs")
            .and_then(Value::as_array)
            .map(|outs| outs.iter().map(Output::from_json).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

impl Notebook {
    /// Reads and validates a notebook file (nbformat 4 with a list of cells).
    pub fn read(path: &Path) -> Result<Notebook> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON notebook", path.display()))?;
        if doc.get("nbformat").and_then(Value::as_u64) != Some(4) {
            bail!(
                "{}: only nbformat 4 notebooks are supported",
                path.display()
            );
        }
        if !doc.get("cells").is_some_and(Value::is_array) {
            bail!("{}: the notebook has no list of cells", path.display());
        }
        Ok(Notebook { doc })
    }

    /// Writes the notebook as Jupyter does: one-space indent, sorted keys, a final newline.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        serde::Serialize::serialize(&self.doc, &mut ser)?;
        buf.push(b'\n');
        std::fs::write(path, buf).with_context(|| format!("writing {}", path.display()))
    }

    /// The cells, in order.
    pub fn cells(&self) -> Vec<Cell<'_>> {
        self.doc["cells"]
            .as_array()
            .map(|c| c.iter().map(|json| Cell { json }).collect())
            .unwrap_or_default()
    }

    /// Replaces a code cell's outputs and execution count.
    pub fn set_outputs(&mut self, index: usize, count: Option<u64>, outputs: &[Output]) {
        if let Some(cell) = self.doc["cells"].get_mut(index) {
            cell["outputs"] = Value::Array(outputs.iter().map(Output::to_json).collect());
            cell["execution_count"] = count.map_or(Value::Null, Value::from);
        }
    }

    /// Sets the kernel metadata so Jupyter opens the notebook on the prunelab kernel.
    pub fn set_kernel_metadata(&mut self) {
        let meta = &mut self.doc["metadata"];
        if !meta.is_object() {
            *meta = json!({});
        }
        meta["kernelspec"] = json!({
            "display_name": crate::kernel::DISPLAY_NAME,
            "language": "rust",
            "name": crate::kernel::NAME,
        });
        // What the kernel's `kernel_info` gives (evcxr_jupyter's), so a notebook reads the same whichever ran it.
        meta["language_info"] = evcxr_jupyter::language_info();
    }

    /// The title: `metadata.title`, else the first Markdown heading, else the file stem.
    pub fn title(&self, path: &Path) -> String {
        if let Some(t) = self.doc.pointer("/metadata/title").and_then(Value::as_str) {
            return t.to_string();
        }
        for cell in self.cells() {
            if cell.kind() == "markdown" {
                if let Some(h) = cell
                    .source()
                    .lines()
                    .find_map(|l| l.strip_prefix("# ").map(str::trim).map(str::to_string))
                {
                    return h;
                }
            }
        }
        stem(path)
    }

    /// The excerpt: `metadata.excerpt`, else the first paragraph of Markdown that is not a heading.
    pub fn excerpt(&self) -> String {
        if let Some(t) = self
            .doc
            .pointer("/metadata/excerpt")
            .and_then(Value::as_str)
        {
            return t.to_string();
        }
        for cell in self.cells() {
            if cell.kind() != "markdown" {
                continue;
            }
            let source = cell.source();
            for para in source.split("\n\n") {
                let para = para.trim();
                if !para.is_empty() && !para.starts_with('#') {
                    return para.split_whitespace().collect::<Vec<_>>().join(" ");
                }
            }
        }
        String::new()
    }

    /// The tags: `metadata.tags`.
    pub fn tags(&self) -> Vec<String> {
        self.doc
            .pointer("/metadata/tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A file's name without folder and extension.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "notebook".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_outputs_read_as_shown() {
        let raw = json!({"output_type": "stream", "name": "stdout", "text": ["\r[#-] 1\r[##] 2\n", "done\n"]});
        assert_eq!(
            Output::from_json(&raw).unwrap(),
            Output::Stream {
                name: "stdout".into(),
                text: "[##] 2\ndone\n".into()
            }
        );
    }

    #[test]
    fn carriage_returns_overwrite_their_line_as_a_terminal_does() {
        assert_eq!(apply_carriage_returns("plain\ntext\n"), "plain\ntext\n");
        assert_eq!(apply_carriage_returns("abc\rx"), "xbc");
        assert_eq!(
            apply_carriage_returns("\r[#--] 1/3\r[##-] 2/3\r[###] 3/3\ndone\n"),
            "[###] 3/3\ndone\n"
        );
        assert_eq!(apply_carriage_returns("a\r\nb"), "a\nb");
        assert_eq!(apply_carriage_returns("épsilon\r\u{3b1}"), "\u{3b1}psilon");
        assert_eq!(apply_carriage_returns("bar 1\r"), "bar 1");
        // Two runs whose redraws came at other moments store the same text.
        assert_eq!(
            apply_carriage_returns("[#-] 1\r[##] 2\n"),
            apply_carriage_returns("[##] 2\n")
        );
    }

    #[test]
    fn outputs_round_trip_through_nbformat_json() {
        let outputs = [
            Output::Stream {
                name: "stdout".into(),
                text: "a\nb\n".into(),
            },
            Output::Data {
                execution_count: Some(3),
                data: vec![("text/plain".into(), "42".into())],
                metadata: Map::new(),
            },
            Output::Data {
                execution_count: None,
                data: vec![("image/png".into(), "iVBO\nRw0K".into())],
                metadata: json!({"image/png": {"alt": "a chart"}})
                    .as_object()
                    .cloned()
                    .unwrap(),
            },
            Output::Error {
                ename: "CompilationError".into(),
                evalue: "mismatched types".into(),
                traceback: vec!["line 1".into()],
            },
        ];
        for o in &outputs {
            let back = Output::from_json(&o.to_json()).unwrap();
            match (o, &back) {
                (Output::Data { data: a, .. }, Output::Data { data: b, .. })
                    if a[0].0 == "image/png" =>
                {
                    assert_eq!(b[0].1, "iVBORw0K", "base64 is stored without line breaks")
                }
                _ => assert_eq!(o, &back),
            }
        }
        assert_eq!(lines_of("x\ny"), json!(["x\n", "y"]));
        assert_eq!(outputs[2].comparable_text(), None);
    }

    #[test]
    fn title_and_excerpt_come_from_metadata_or_the_first_heading() {
        let doc = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "metadata": {},
                "source": ["# Pruning iris\n", "\n", "We prune\n", "a small net.\n"]}]});
        let mut nb = Notebook { doc };
        assert_eq!(nb.title(Path::new("x.ipynb")), "Pruning iris");
        assert_eq!(nb.excerpt(), "We prune a small net.");
        nb.doc["metadata"]["title"] = json!("Other");
        assert_eq!(nb.title(Path::new("x.ipynb")), "Other");
    }
}
