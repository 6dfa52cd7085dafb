"""The blog as a blogger gets it: every notebook rendered into a minimal Jekyll site (Debian's jekyll, minima
theme) with `prunelab render --to jekyll`, built with the real `jekyll build`, for an empty and a non-empty
`baseurl`. Fails unless: the build succeeds without Liquid errors or warnings, there is one post per notebook,
every <img src> in the built site resolves to a file (under the baseurl), every image has alt text, the title
is printed once, and each post has exactly as many <table> elements as the HTML site's page (prose with
`|` must not turn into tables).

Usage: jekyll_check.py PRUNELAB_BINARY NOTEBOOK...
"""
import html.parser
import os
import pathlib
import subprocess
import sys
import tempfile

FAILURES = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


class Page(html.parser.HTMLParser):
    """The images, tables and h1 headings of an HTML page."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.h1 = [], 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "")))
        elif tag == "table":
            self.tables += 1
        elif tag == "h1":
            self.h1 += 1


def parse(path):
    p = Page()
    p.feed(pathlib.Path(path).read_text(encoding="utf-8"))
    return p


def check_site(binary, notebooks, baseurl, html_tables):
    site = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-jekyll-"))
    (site / "_config.yml").write_text(
        f'title: "prunelab notebooks"\ntheme: minima\nbaseurl: "{baseurl}"\nmarkdown: kramdown\n')
    (site / "index.md").write_text("---\nlayout: home\n---\n")
    subprocess.run([binary, "render", *notebooks, "--to", "jekyll", "--out", str(site)], check=True,
                   stdout=subprocess.DEVNULL)
    build = subprocess.run(["jekyll", "build", "--source", str(site), "--destination", str(site / "_site")],
                           capture_output=True, text=True)
    log = build.stdout + build.stderr
    label = f"baseurl {baseurl!r}"
    expect(build.returncode == 0, f"{label}: jekyll build succeeds (exit {build.returncode})\n{log[-2000:]}")
    expect("Liquid" not in log, f"{label}: no Liquid error or warning in the build log")
    built = site / "_site"
    for nb in notebooks:
        slug = pathlib.Path(nb).stem
        pages = list(built.glob(f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/{slug}.html"))
        expect(len(pages) == 1, f"{label}: one post for {slug} (found {[str(p) for p in pages]})")
        if len(pages) != 1:
            continue
        page = parse(pages[0])
        expect(page.h1 == 1, f"{label}: {slug} prints its title once (h1 count {page.h1})")
        expect(page.tables == html_tables[slug],
               f"{label}: {slug} has {html_tables[slug]} table(s) as the HTML site does (found {page.tables})")
        missing = []
        for src, alt in page.images:
            expect(alt.strip() != "", f"{label}: {slug}: image {src} has alt text")
            prefix = baseurl + "/"
            if not src.startswith(prefix):
                missing.append(src)
                continue
            if not (built / src[len(prefix):]).is_file():
                missing.append(src)
        expect(not missing, f"{label}: every image of {slug} resolves ({len(page.images)} images; missing {missing})")
    index = (built / "index.html").read_text(encoding="utf-8")
    expect(all(pathlib.Path(nb).stem in index for nb in notebooks), f"{label}: the home page lists every post")
    return site


def main():
    binary, notebooks = sys.argv[1], sys.argv[2:]
    out = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-html-"))
    subprocess.run([binary, "render", *notebooks, "--to", "html", "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    html_tables = {pathlib.Path(nb).stem: parse(out / f"{pathlib.Path(nb).stem}.html").tables for nb in notebooks}
    for baseurl in ["", "/blog"]:
        check_site(binary, notebooks, baseurl, html_tables)
    if FAILURES:
        sys.exit(f"{len(FAILURES)} check(s) failed")
    print(f"the Jekyll site builds: {len(notebooks)} posts, twice (baseurl '' and '/blog')")


if __name__ == "__main__":
    main()
