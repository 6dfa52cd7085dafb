//! `prunelab render`: notebooks to a static blog — posts of a Jekyll site (see [`crate::jekyll`]), or a
//! standalone HTML site (a page per notebook and an index) — with images written as PNG files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use crate::highlight::{self, escape};
use crate::notebook::{stem, Notebook, Output};

/// What `render` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown with YAML front matter, one file per notebook.
    Jekyll,
    /// A standalone HTML site.
    Html,
}

/// A rendered notebook's entry in the site's index.
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

/// Characters left as they are in a link's path segment: letters, digits and `-._~` (RFC 3986's unreserved);
/// everything else (`#`, `?`, `%`, spaces, non-ASCII) is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A relative path (`/`-separated) as a link: each segment percent-encoded, so a notebook named `a#b?.ipynb`
/// links to its own page and images.
pub fn url_path(path: &str) -> String {
    path.split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// `prunelab render NOTEBOOK… --out DIR [--to jekyll|html] [--baseurl PREFIX]`.
pub fn render(args: crate::cli::RenderArgs) -> Result<()> {
    let crate::cli::RenderArgs {
        notebooks,
        out,
        to,
        baseurl,
    } = args;
    let format = match to {
        crate::cli::RenderTo::Jekyll => Format::Jekyll,
        crate::cli::RenderTo::Html => Format::Html,
    };
    let base = match baseurl {
        Some(prefix) => crate::jekyll::BaseUrl::Fixed(prefix),
        None => crate::jekyll::BaseUrl::Site,
    };
    // Two notebooks with one file name (from different folders) would write the same page and images: the
    // second would replace the first without a word.
    let mut seen: std::collections::HashMap<String, &Path> = std::collections::HashMap::new();
    for path in &notebooks {
        if let Some(first) = seen.insert(stem(path), path) {
            bail!(
                "{} and {} have the same name, so their pages would overwrite each other; rename one or \
                 render them into different folders",
                first.display(),
                path.display()
            );
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut entries = Vec::new();
    for path in &notebooks {
        let nb = Notebook::read(path)?;
        let entry = Entry {
            slug: stem(path),
            title: nb.title(path),
            excerpt: nb.excerpt(),
            tags: nb.tags(),
        };
        let file = match format {
            Format::Jekyll => crate::jekyll::write_post(&nb, &entry, path, &out, &base)?,
            Format::Html => {
                let file = out.join(format!("{}.html", entry.slug));
                std::fs::write(&file, html_page(&nb, &entry, &out)?)
                    .with_context(|| format!("writing {}", file.display()))?;
                file
            }
        };
        println!("{} -> {}", path.display(), file.display());
        entries.push(entry);
    }
    if format == Format::Html {
        std::fs::write(out.join("index.html"), html_index(&entries))?;
        std::fs::write(out.join("style.css"), STYLE)?;
        println!("site index: {}", out.join("index.html").display());
    }
    Ok(())
}

/// An output's image, if it holds one: its bytes and file extension (`png`, or `gif` for an animation).
pub(crate) fn decode_image(
    slug: &str,
    cell: usize,
    data: &[(String, String)],
) -> Result<Option<(Vec<u8>, &'static str)>> {
    let Some((mime, b64)) = data
        .iter()
        .find(|(m, _)| m == "image/png" || m == "image/gif")
    else {
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

/// Alt text for an image: a chart's title (carried in its PNG), else what it is.
pub(crate) fn alt_text(bytes: &[u8], ext: &str) -> String {
    match ext {
        "gif" => "animation".to_string(),
        _ => png_title(bytes).unwrap_or_else(|| "chart".into()),
    }
}

/// The title a PNG carries in its `Title` text chunk (prunelab's charts write one), for alt text.
pub(crate) fn png_title(bytes: &[u8]) -> Option<String> {
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

/// Writes an output's image (if any) beside the HTML page with nbconvert's naming
/// (`{slug}_files/{slug}_{cell}_{output}.png` or `.gif`); returns its relative path and alt text.
fn write_image(
    out: &Path,
    slug: &str,
    cell: usize,
    k: usize,
    data: &[(String, String)],
) -> Result<Option<(String, String)>> {
    let Some((bytes, ext)) = decode_image(slug, cell, data)? else {
        return Ok(None);
    };
    let rel = format!("{slug}_files/{slug}_{cell}_{k}.{ext}");
    let file = out.join(&rel);
    std::fs::create_dir_all(file.parent().expect("has a folder"))?;
    std::fs::write(&file, &bytes)?;
    Ok(Some((rel, alt_text(&bytes, ext))))
}

pub(crate) fn get<'a>(data: &'a [(String, String)], mime: &str) -> Option<&'a str> {
    data.iter()
        .find(|(m, _)| m == mime)
        .map(|(_, v)| v.as_str())
}

/// The HTML page of one notebook.
fn html_page(nb: &Notebook, entry: &Entry, out: &Path) -> Result<String> {
    let mut body = String::new();
    for (i, cell) in nb.cells().iter().enumerate() {
        match cell.kind() {
            "markdown" => {
                let source = cell.source();
                let parser =
                    pulldown_cmark::Parser::new_ext(&source, pulldown_cmark::Options::all());
                body.push_str("<div class=\"md\">");
                pulldown_cmark::html::push_html(&mut body, parser);
                body.push_str("</div>\n");
            }
            "code" => {
                writeln!(
                    body,
                    "<pre class=\"code\"><code>{}</code></pre>",
                    highlight::rust(cell.source().trim_end())
                )?;
                for (k, o) in cell.outputs()?.iter().enumerate() {
                    match o {
                        Output::Stream { name, text } => writeln!(
                            body,
                            "<pre class=\"out {name}\">{}</pre>",
                            escape(text.trim_end())
                        )?,
                        Output::Data { data, .. } => {
                            if let Some((rel, alt)) = write_image(out, &entry.slug, i, k, data)? {
                                writeln!(
                                    body,
                                    "<p class=\"img\"><img src=\"{}\" alt=\"{}\"></p>",
                                    escape(&url_path(&rel)),
                                    escape(&alt)
                                )?;
                            } else if let Some(html) = get(data, "text/html") {
                                writeln!(body, "<div class=\"html\">{html}</div>")?;
                            } else if let Some(text) = get(data, "text/plain") {
                                writeln!(
                                    body,
                                    "<pre class=\"out\">{}</pre>",
                                    escape(text.trim_end())
                                )?;
                            }
                        }
                        Output::Error { ename, evalue, .. } => writeln!(
                            body,
                            "<pre class=\"out error\">{}: {}</pre>",
                            escape(ename),
                            escape(evalue)
                        )?,
                    }
                }
            }
            _ => {}
        }
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<meta name=\"description\" content=\"{excerpt}\">\n\
         <link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n\
         <nav><a href=\"index.html\">prunelab notebooks</a></nav>\n<main>\n{body}</main>\n</body>\n</html>\n",
        title = escape(&entry.title),
        excerpt = escape(&entry.excerpt),
    ))
}

/// The site's index: every notebook with its title, excerpt and tags.
fn html_index(entries: &[Entry]) -> String {
    let mut items = String::new();
    for e in entries {
        let tags: Vec<String> = e
            .tags
            .iter()
            .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
            .collect();
        let _ = writeln!(
            items,
            "<li><a href=\"{}\">{}</a><p>{}</p><p>{}</p></li>",
            escape(&url_path(&format!("{}.html", e.slug))),
            escape(&e.title),
            escape(&e.excerpt),
            tags.join(" ")
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>prunelab notebooks</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n\
         <main>\n<h1>prunelab notebooks</h1>\n<p>Neural-network pruning experiments in Rust, executed with the \
         prunelab kernel.</p>\n<ul class=\"index\">\n{items}</ul>\n</main>\n</body>\n</html>\n"
    )
}

const STYLE: &str = "\
body { font-family: system-ui, sans-serif; line-height: 1.55; color: #1d1f21; margin: 0; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
nav { max-width: 52rem; margin: 0 auto; padding: 0.75rem 1.25rem 0; font-size: 0.9rem; }
pre { overflow-x: auto; padding: 0.6rem 0.8rem; border-radius: 4px; font-size: 0.85rem; }
pre.code { background: #f6f8fa; border-left: 3px solid #4a90d9; }
pre.out { background: #fff; border-left: 3px solid #ccc; }
pre.stderr, pre.error { background: #fff4f4; border-left-color: #d9534f; }
.img img { max-width: 100%; height: auto; }
.html { overflow-x: auto; }
.html table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
.html th, .html td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: right; }
.index li { margin-bottom: 1rem; }
.tag { background: #eef; border-radius: 3px; padding: 0 0.3rem; font-size: 0.8rem; }
.c { color: #6a737d; } .s { color: #032f62; } .n { color: #005cc5; } .k { color: #d73a49; }
.m { color: #6f42c1; } .t { color: #22863a; } .l { color: #e36209; } .d { color: #6f42c1; }
";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Notebook {
        // A 1x1 PNG.
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        Notebook {
            doc: json!({"nbformat": 4, "nbformat_minor": 5,
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

    #[test]
    fn jekyll_posts_and_html_pages_with_their_images() {
        let dir = std::env::temp_dir().join(format!("prunelab-render-md-{}", std::process::id()));
        let mut nb = sample();
        nb.doc["metadata"]["date"] = json!("2026-03-04");
        let entry = Entry {
            slug: "iris".into(),
            title: nb.title(Path::new("iris.ipynb")),
            excerpt: nb.excerpt(),
            tags: nb.tags(),
        };
        let post = crate::jekyll::write_post(
            &nb,
            &entry,
            Path::new("iris.ipynb"),
            &dir,
            &crate::jekyll::BaseUrl::Site,
        )
        .unwrap();
        assert_eq!(post, dir.join("_posts/2026-03-04-iris.md"));
        let md = std::fs::read_to_string(&post).unwrap();
        assert!(md.starts_with("---\nlayout: post\ntitle: \"Iris sweep\"\ndate: 2026-03-04\nexcerpt: \"Thresholds <and> AP.\"\ntags: [\"pruning\", \"iris\"]\n---\n"), "{md}");
        // The layout prints the title: the body does not repeat it.
        assert!(!md.contains("# Iris sweep"), "{md}");
        assert!(
            md.contains("{% raw %}\n```rust\nlet x = 1;\nx\n```\n{% endraw %}"),
            "{md}"
        );
        assert!(md.contains("<pre class=\"output stream\""), "{md}");
        assert!(
            md.contains("![chart]({{ site.baseurl }}/assets/notebooks/iris/iris_1_1.png)"),
            "{md}"
        );
        let png = std::fs::read(dir.join("assets/notebooks/iris/iris_1_1.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let html = html_page(&nb, &entry, &dir).unwrap();
        assert!(html.contains("<h1>Iris sweep</h1>"));
        assert!(html.contains("<img src=\"iris_files/iris_1_1.png\" alt=\"chart\""));
        assert!(html.contains("<span class=\"k\">let</span>"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn two_notebooks_with_one_name_are_refused_before_anything_is_written() {
        let dir = std::env::temp_dir().join(format!("prunelab-render-dup-{}", std::process::id()));
        let out = dir.join("site");
        let (a, b) = (dir.join("a/intro.ipynb"), dir.join("b/intro.ipynb"));
        let err = render(crate::cli::RenderArgs {
            notebooks: vec![a, b],
            out: out.clone(),
            to: crate::cli::RenderTo::Html,
            baseurl: None,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("same name") && err.contains("a/intro.ipynb"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }

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
}
