//! `render --to jekyll --out SITE`: notebooks as posts of a Jekyll site, laid out as Jekyll expects them:
//! `SITE/_posts/YYYY-MM-DD-SLUG.md` with front matter, images under `SITE/assets/notebooks/SLUG/` linked by
//! site-absolute URLs that honour `baseurl`, code and outputs kept away from Liquid, and prose that
//! kramdown would misread escaped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use regex::Regex;

use super::assets::{alt_text, decode_image, get, url_path, write_file, Entry};
use crate::highlight::escape;
use crate::notebook::{Notebook, Output};

/// Where images are linked from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BaseUrl {
    /// `{{ site.baseurl }}`: Jekyll fills in the site's own `baseurl`.
    Site,
    /// A fixed prefix (e.g. `/blog`, or empty), for Markdown read by something other than Jekyll.
    Fixed(String),
}

impl BaseUrl {
    fn prefix(&self) -> String {
        match self {
            BaseUrl::Site => "{{ site.baseurl }}".into(),
            BaseUrl::Fixed(p) => p.trim_end_matches('/').to_string(),
        }
    }
}

/// The post's date: `metadata.date` (`YYYY-MM-DD`, optionally followed by a time), else the date of the
/// notebook file's last commit, else its modification date.
fn post_date(nb: &Notebook, path: &Path) -> Result<String> {
    if let Some(d) = nb.doc.pointer("/metadata/date").and_then(|v| v.as_str()) {
        let day = d.get(..10).unwrap_or(d);
        // A time may follow the day (`2026-03-04T10:00`, `2026-03-04 10:00`), nothing else.
        let rest = d.get(10..).unwrap_or("");
        if !is_date(day) || !(rest.is_empty() || rest.starts_with(['T', ' '])) {
            bail!(
                "{}: metadata date {d:?} is not a calendar day written YYYY-MM-DD",
                path.display()
            );
        }
        return Ok(day.to_string());
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let committed = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-1", "--format=%cs", "--"])
        .arg(&name)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| is_date(d));
    if let Some(d) = committed {
        return Ok(d);
    }
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the date of {}", path.display()))?;
    Ok(civil_date(modified))
}

/// Whether `d` is a real calendar day written `YYYY-MM-DD` (month 1-12, the month's days, 29 February in
/// leap years only).
fn is_date(d: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^(\d{4})-(\d{2})-(\d{2})$").expect("valid regex"));
    let Some(c) = re.captures(d) else {
        return false;
    };
    let num = |i: usize| c[i].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (num(1), num(2), num(3));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// A time as a UTC `YYYY-MM-DD` (Howard Hinnant's days-to-civil algorithm).
fn civil_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Text that Liquid must leave alone: inside `{% raw %}`, with any `{% endraw %}` in it neutralised.
fn raw(text: &str) -> String {
    let safe = text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}");
    format!("{{% raw %}}\n{safe}\n{{% endraw %}}\n")
}

fn delimiter_row() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$").expect("valid regex")
    })
}

/// Markdown prose made safe for kramdown: a `|` outside code spans, fenced code and real tables becomes
/// `&#124;`, so `|w|` or `|1| + |-1|` stays text instead of turning into a table.
fn escape_pipes(markdown: &str) -> String {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut in_table = vec![false; lines.len()];
    for k in 1..lines.len() {
        if lines[k - 1].contains('|') && delimiter_row().is_match(lines[k]) {
            // The header, the delimiter and the rows that follow.
            in_table[k - 1] = true;
            let mut j = k;
            while j < lines.len() && lines[j].contains('|') {
                in_table[j] = true;
                j += 1;
            }
        }
    }
    let mut out = String::new();
    let mut fence = false;
    for (k, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            fence = !fence;
        }
        if fence || in_table[k] || !line.contains('|') {
            out.push_str(line);
        } else {
            let mut code = false;
            for c in line.chars() {
                match c {
                    '`' => {
                        code = !code;
                        out.push(c);
                    }
                    '|' if !code => out.push_str("&#124;"),
                    _ => out.push(c),
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A Markdown cell without its leading `# Title` heading when that is the post's title (the layout prints it).
fn without_title(source: &str, title: &str) -> String {
    let mut lines = source.lines().skip_while(|l| l.trim().is_empty());
    match lines.next() {
        Some(first) if first.strip_prefix("# ").map(str::trim) == Some(title) => lines
            .collect::<Vec<_>>()
            .join("\n")
            .trim_start()
            .to_string(),
        _ => source.to_string(),
    }
}

/// An output block, visually distinct from code in any theme: a `<pre>` with the class `output` and a left
/// rule of its own.
fn output_pre(text: &str, kind: &str) -> String {
    let colour = if kind == "error" {
        "#d9534f"
    } else {
        "#9aa5b1"
    };
    raw(&format!(
        "<pre class=\"output {kind}\" style=\"border-left: 3px solid {colour}; background: #fff;\"><code>{}</code></pre>\n",
        escape(text.trim_end())
    ))
}

/// Writes the post and its images into `site`; returns the post's path.
pub(crate) fn write_post(
    nb: &Notebook,
    entry: &Entry,
    path: &Path,
    site: &Path,
    base: &BaseUrl,
) -> Result<PathBuf> {
    let date = post_date(nb, path)?;
    let mut md = String::new();
    writeln!(md, "---")?;
    writeln!(md, "layout: post")?;
    writeln!(md, "title: {}", yaml_string(&entry.title))?;
    writeln!(md, "date: {date}")?;
    writeln!(md, "excerpt: {}", yaml_string(&entry.excerpt))?;
    let list = |items: &[String]| {
        items
            .iter()
            .map(|t| yaml_string(t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(md, "tags: [{}]", list(&entry.tags))?;
    let categories: Vec<String> = nb
        .doc
        .pointer("/metadata/categories")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !categories.is_empty() {
        writeln!(md, "categories: [{}]", list(&categories))?;
    }
    writeln!(md, "---\n")?;
    let assets = site.join("assets").join("notebooks").join(&entry.slug);
    let mut first_markdown = true;
    for (i, cell) in nb.cells().iter().enumerate() {
        match cell.kind() {
            "markdown" => {
                let source = cell.source();
                let source = if first_markdown {
                    without_title(&source, &entry.title)
                } else {
                    source
                };
                first_markdown = false;
                if !source.trim().is_empty() {
                    writeln!(md, "{}", raw(escape_pipes(source.trim_end()).trim_end()))?;
                }
            }
            "code" => {
                writeln!(
                    md,
                    "{}",
                    raw(&format!("```rust\n{}\n```", cell.source().trim_end()))
                )?;
                for (k, o) in cell.outputs()?.iter().enumerate() {
                    match o {
                        Output::Stream { name, text } => {
                            let kind = if name == "stderr" { "error" } else { "stream" };
                            writeln!(md, "{}", output_pre(text, kind))?
                        }
                        Output::Data { data, .. } => {
                            if let Some((bytes, ext)) = decode_image(&entry.slug, i, data)? {
                                let name = format!("{}_{i}_{k}.{ext}", entry.slug);
                                write_file(&assets.join(&name), &bytes)?;
                                let alt = alt_text(&bytes, ext);
                                let alt = alt.replace(['[', ']'], "").replace('|', "&#124;");
                                writeln!(
                                    md,
                                    "![{alt}]({}/assets/notebooks/{})\n",
                                    base.prefix(),
                                    url_path(&format!("{}/{name}", entry.slug))
                                )?;
                            } else if let Some(html) = get(data, "text/html") {
                                writeln!(
                                    md,
                                    "{}",
                                    raw(&format!(
                                        "<div class=\"output\">\n{}\n</div>",
                                        html.trim()
                                    ))
                                )?;
                            } else if let Some(text) = get(data, "text/plain") {
                                writeln!(md, "{}", output_pre(text, "result"))?;
                            }
                        }
                        Output::Error { ename, evalue, .. } => {
                            writeln!(md, "{}", output_pre(&format!("{ename}: {evalue}"), "error"))?
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let file = site
        .join("_posts")
        .join(format!("{date}-{}.md", entry.slug));
    write_file(&file, md)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::assets::sample_notebook;

    #[test]
    fn posts_with_front_matter_and_their_images() {
        let dir = std::env::temp_dir().join(format!("prunelab-render-md-{}", std::process::id()));
        let mut nb = sample_notebook();
        nb.doc["metadata"]["date"] = serde_json::json!("2026-03-04");
        let entry = Entry::of(&nb, Path::new("iris.ipynb"));
        let post = write_post(&nb, &entry, Path::new("iris.ipynb"), &dir, &BaseUrl::Site).unwrap();
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
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn pipes_in_prose_are_escaped_but_tables_and_code_are_kept() {
        let md = "Prune |w| < t, so |1| + |-1| = 2.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n`x | y` and\n```\nlet a = |x| x;\n```\n";
        let out = escape_pipes(md);
        assert!(
            out.contains("Prune &#124;w&#124; < t, so &#124;1&#124; + &#124;-1&#124; = 2."),
            "{out}"
        );
        assert!(out.contains("| a | b |\n|---|---|\n| 1 | 2 |"), "{out}");
        assert!(out.contains("`x | y` and"), "{out}");
        assert!(out.contains("let a = |x| x;"), "{out}");
    }

    #[test]
    fn raw_blocks_survive_an_endraw_inside() {
        let r = raw("a {% endraw %} b {{ x }}");
        assert!(r.starts_with("{% raw %}\n") && r.ends_with("\n{% endraw %}\n"));
        assert_eq!(r.matches("{% raw %}").count(), 2);
    }

    #[test]
    fn dates_are_civil_and_titles_are_not_repeated() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_460_800); // 2025-11-30
        assert_eq!(civil_date(t), "2025-11-30");
        assert_eq!(civil_date(std::time::UNIX_EPOCH), "1970-01-01");
        assert_eq!(without_title("# Iris\n\nText", "Iris"), "Text");
        assert_eq!(without_title("# Other\n\nText", "Iris"), "# Other\n\nText");
        assert!(is_date("2026-11-30") && !is_date("30/11/2026"));
        // Real calendar days only.
        assert!(is_date("2024-02-29") && is_date("2000-02-29") && is_date("2026-12-31"));
        for bad in [
            "2026-13-45",
            "2026-02-30",
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-00-10",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
