//! `render --to html --out DIR`: a standalone HTML site — a page per notebook (`DIR/SLUG.html`, images
//! under `DIR/SLUG_files/` with nbconvert's names), an index of them all and a style sheet.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::assets::{alt_text, decode_image, get, url_path, write_file, Entry};
use crate::highlight::{self, escape};
use crate::notebook::{Notebook, Output};

/// Writes the notebook's page and its images into `out`; returns the page's path.
pub(crate) fn write_page(nb: &Notebook, entry: &Entry, out: &Path) -> Result<PathBuf> {
    let file = out.join(format!("{}.html", entry.slug));
    write_file(&file, html_page(nb, entry, out)?)?;
    Ok(file)
}

/// Writes the site's index of `entries` and its style sheet into `out`; returns the index's path.
pub(crate) fn write_index(entries: &[Entry], out: &Path) -> Result<PathBuf> {
    let index = out.join("index.html");
    write_file(&index, html_index(entries))?;
    write_file(&out.join("style.css"), STYLE)?;
    Ok(index)
}

/// Writes an output's image (if any) beside the HTML page with nbconvert's naming
/// (`{slug}_files/{slug}_{cell}_{output}.png` or `.gif`); returns its relative path and alt text.
fn write_image(
    out: &Path,
    slug: &str,
    cell: usize,
    k: usize,
    data: &[(String, String)],
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<(String, String)>> {
    let Some((bytes, ext)) = decode_image(slug, cell, data)? else {
        return Ok(None);
    };
    let rel = format!("{slug}_files/{slug}_{cell}_{k}.{ext}");
    write_file(&out.join(&rel), &bytes)?;
    Ok(Some((rel, alt_text(&bytes, ext, metadata))))
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
                        Output::Data { data, metadata, .. } => {
                            if let Some((rel, alt)) =
                                write_image(out, &entry.slug, i, k, data, metadata)?
                            {
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
    use crate::render::assets::sample_notebook;

    #[test]
    fn html_pages_with_their_images_and_an_index() {
        let dir = std::env::temp_dir().join(format!("prunelab-render-html-{}", std::process::id()));
        let nb = sample_notebook();
        let entry = Entry::of(&nb, Path::new("iris.ipynb"));
        let page = write_page(&nb, &entry, &dir).unwrap();
        assert_eq!(page, dir.join("iris.html"));
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("<h1>Iris sweep</h1>"));
        assert!(html.contains("<img src=\"iris_files/iris_1_1.png\" alt=\"chart\""));
        assert!(html.contains("<span class=\"k\">let</span>"));
        assert!(
            html.contains("<pre class=\"out stdout\">hello</pre>"),
            "{html}"
        );
        let png = std::fs::read(dir.join("iris_files/iris_1_1.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(write_index(&[entry], &dir).unwrap(), dir.join("index.html"));
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(
            index.contains("<a href=\"iris.html\">Iris sweep</a>"),
            "{index}"
        );
        assert!(
            index.contains("<span class=\"tag\">pruning</span>"),
            "{index}"
        );
        assert!(dir.join("style.css").is_file());
        std::fs::remove_dir_all(&dir).ok();
    }
}
