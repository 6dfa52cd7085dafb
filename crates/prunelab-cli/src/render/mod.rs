//! `prunelab render`: notebooks to a static blog — posts of a Jekyll site ([`jekyll`]), or a standalone HTML
//! site, a page per notebook and an index ([`html`]) — with images written as files.
//!
//! This module only dispatches: it checks the notebook list, reads each notebook and hands it to the backend
//! asked for. What both backends share (a notebook's [`Entry`], images, links, writing files) is in
//! [`assets`]; the backends use it and never each other or this module.

mod assets;
mod html;
mod jekyll;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use self::assets::Entry;
use self::jekyll::BaseUrl;
use crate::cli::{RenderArgs, RenderTo};
use crate::notebook::{stem, Notebook};

/// `prunelab render NOTEBOOK… --out DIR [--to jekyll|html] [--baseurl PREFIX]`.
pub fn render(args: RenderArgs) -> Result<()> {
    let RenderArgs {
        notebooks,
        out,
        to,
        baseurl,
    } = args;
    let base = match baseurl {
        Some(prefix) => BaseUrl::Fixed(prefix),
        None => BaseUrl::Site,
    };
    // Two notebooks with one file name (from different folders) would write the same page and images: the
    // second would replace the first without a word.
    let mut seen: HashMap<String, &Path> = HashMap::new();
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
        let entry = Entry::of(&nb, path);
        let file = match to {
            RenderTo::Jekyll => jekyll::write_post(&nb, &entry, path, &out, &base)?,
            RenderTo::Html => html::write_page(&nb, &entry, &out)?,
        };
        println!("{} -> {}", path.display(), file.display());
        entries.push(entry);
    }
    if to == RenderTo::Html {
        let index = html::write_index(&entries, &out)?;
        println!("site index: {}", index.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_notebooks_with_one_name_are_refused_before_anything_is_written() {
        let dir = std::env::temp_dir().join(format!("prunelab-render-dup-{}", std::process::id()));
        let out = dir.join("site");
        let (a, b) = (dir.join("a/intro.ipynb"), dir.join("b/intro.ipynb"));
        let err = render(RenderArgs {
            notebooks: vec![a, b],
            out: out.clone(),
            to: RenderTo::Html,
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
}
