"""Random Liquid through the real Jekyll: a batch of notebooks whose prose, code, stream / plain / HTML / error
outputs, chart titles (the images' alt text) and post titles are random strings built from what Liquid reacts
to (`{`, `}`, `%`, `{%`, `{{`, `raw`, `endraw`, `{%- endraw -%}`, `{% include x %}`, whitespace, quotes),
plus the issue's own strings (each between markers `X0@ ... @X0`), rendered with `prunelab render --to jekyll` into a minimal site (Debian's jekyll,
minima theme) and built with `jekyll build`. Fails unless the build succeeds without a Liquid error or
warning and every built post shows each of its strings verbatim (HTML-unescaped text, whitespace runs and
kramdown's typographic quotes and dashes aside): in its text, in an <img alt>, in its <h1> title. A markdown
cell is markdown, so its expected text is what kramdown itself (Jekyll's GFM input, called directly, no Liquid)
shows for the cell's source: a line of `-` under text is a heading there, `- x` a list item.

A new seed each run (printed; `--seed S` repeats a run), so each CI build tries a new batch.

Usage: jekyll_liquid_check.py PRUNELAB_BINARY [--count N] [--seed S]
"""
import argparse
import base64
import html.parser
import json
import os
import pathlib
import random
import struct
import subprocess
import sys
import tempfile
import zlib

PIECES = ["{", "}", "%", "{%", "%}", "{{", "}}", "-", "raw", "endraw", " raw ", "{% raw %}", "{% endraw %}",
          "{%endraw%}", "{%- endraw -%}", "{%  endraw\t%}", "{% endraw x %}", "{%-", "-%}", "{{-", "-}}",
          "{% include x %}", "{{ site.title }}", '{{ "{" }}', "{{ '", " ", "\t", "\n", "'", '"', "x", "é"]
# The strings, in every place of the first notebook.
FIXED = ["{% endraw %}", "{%endraw%}", "{%- endraw -%}", "{% endraw  %}", "{{ x", "a {{ b",
         "{% include x %}", "{{ site.title }}", "{{", "{%", "{"]


def random_text(rng, single_line=False):
    pieces = [p for p in PIECES if not (single_line and "\n" in p)]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))


def png_with_title(title):
    """A 1x1 grey PNG carrying `title` in an iTXt `Title` chunk, as prunelab's charts do."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return base64.b64encode(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"iTXt", b"Title\0\0\0\0\0" + title.encode("utf-8"))
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")).decode()


def notebook(k, texts):
    """A notebook holding `texts` (a dict of place -> string), each between markers of its place."""
    t = texts
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": f"S{k}@{t['stream']}@S{k}\n"},
        {"output_type": "execute_result", "execution_count": 1, "metadata": {},
         "data": {"text/plain": f"R{k}@{t['plain']}@R{k}"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": f"H{k}@{t['html']}@H{k}"}},
        {"output_type": "display_data", "metadata": {},
         "data": {"image/png": png_with_title(f"A{k}@{t['alt']}@A{k}"), "text/plain": "chart"}},
        {"output_type": "error", "ename": "E", "evalue": f"E{k}@{t['error']}@E{k}", "traceback": []},
    ]
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"title": f"T{k}@{t['title']}@T{k}", "date": f"2026-03-{1 + k % 28:02d}"},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": f"P{k}@{t['prose']}@P{k}"},
                {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": f"C{k}@{t['code']}@C{k}",
                 "outputs": outputs},
                {"cell_type": "markdown", "metadata": {}, "source": f"Q{k}@{t['prose2']}"},
            ]}


def expected(k, t, markdown):
    """What the built post must show: its text, its alt text, its h1. `markdown` maps each markdown cell's
    source to the text kramdown shows for it."""
    text = [markdown[f"P{k}@{t['prose']}@P{k}"], f"C{k}@{t['code']}@C{k}", f"S{k}@{t['stream']}@S{k}",
            f"R{k}@{t['plain']}@R{k}", f"H{k}@{t['html']}@H{k}", f"E: E{k}@{t['error']}@E{k}",
            markdown[f"Q{k}@{t['prose2']}"]]
    return text, f"A{k}@{t['alt']}@A{k}", f"T{k}@{t['title']}@T{k}"


def kramdown_texts(sources):
    """The text kramdown shows for each markdown source, with Jekyll's input (GFM) and no Liquid."""
    ruby = ('require "json"; require "kramdown"; require "kramdown-parser-gfm"; '
            'puts JSON.generate(JSON.parse(STDIN.read).map { |s| Kramdown::Document.new(s, input: "GFM").to_html })')
    out = subprocess.run(["ruby", "-e", ruby], input=json.dumps(sources), capture_output=True, text=True, check=True)
    texts = []
    for rendered in json.loads(out.stdout):
        page = Page()
        page.feed(rendered)
        texts.append("".join(page.text))
    return texts


class Page(html.parser.HTMLParser):
    """A post's whole text, its images' alt texts and its h1's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.alts, self.h1, self._in_h1 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.alts.append(dict(attrs).get("alt", ""))
        elif tag == "h1":
            self._in_h1 = True

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h1:
            self.h1.append(data)


def norm(s):
    """Whitespace runs as one space; kramdown's typographic quotes, dashes and ellipses as typed."""
    for a, b in [("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"), ("\u2019", "'"), ("\u2013", "--"),
                 ("\u2014", "---"), ("\u2026", "..."), ("&#124;", "|")]:
        s = s.replace(a, b)
    return " ".join(s.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    print(f"random Liquid batch: {args.count} notebooks, seed {seed} (rerun with --seed {seed})")
    rng = random.Random(seed)
    places = ["title", "prose", "code", "stream", "plain", "html", "alt", "error", "prose2"]
    batch = [{p: " ".join(FIXED) for p in places}]
    for _ in range(args.count - 1):
        batch.append({p: random_text(rng, single_line=p in ("title", "alt")) for p in places})
    site = pathlib.Path(tempfile.mkdtemp(prefix="prunelab-liquid-"))
    nbdir = site.parent / (site.name + "-notebooks")
    nbdir.mkdir()
    (site / "_config.yml").write_text('title: "random liquid"\ntheme: minima\nbaseurl: ""\nmarkdown: kramdown\n')
    (site / "index.md").write_text("---\nlayout: home\n---\n")
    paths = []
    for k, texts in enumerate(batch):
        p = nbdir / f"liquid_{k:02d}.ipynb"
        p.write_text(json.dumps(notebook(k, texts), ensure_ascii=False), encoding="utf-8")
        paths.append(str(p))
    subprocess.run([args.binary, "render", *paths, "--to", "jekyll", "--out", str(site)], check=True,
                   stdout=subprocess.DEVNULL)
    build = subprocess.run(["jekyll", "build", "--source", str(site), "--destination", str(site / "_site")],
                           capture_output=True, text=True)
    log = build.stdout + build.stderr
    failures = []
    if build.returncode != 0 or "Liquid" in log:
        errors = [line for line in log.splitlines() if "Liquid" in line or "Error" in line]
        failures.append(f"jekyll build (exit {build.returncode}):\n" + "\n".join(errors[:8] or [log[-3000:]]))
    else:
        sources = [src for k, t in enumerate(batch) for src in (f"P{k}@{t['prose']}@P{k}", f"Q{k}@{t['prose2']}")]
        markdown = dict(zip(sources, kramdown_texts(sources)))
        for k, texts in enumerate(batch):
            pages = list((site / "_site").glob(f"2026/03/[0-9][0-9]/liquid_{k:02d}.html"))
            if len(pages) != 1:
                failures.append(f"liquid_{k:02d}: {len(pages)} built posts")
                continue
            page = Page()
            page.feed(pages[0].read_text(encoding="utf-8"))
            shown, alts, h1 = norm("".join(page.text)), [norm(a) for a in page.alts], norm("".join(page.h1))
            text, alt, title = expected(k, texts, markdown)
            for want in text:
                if norm(want) not in shown:
                    failures.append(f"liquid_{k:02d}: text {want!r} not shown verbatim")
            if norm(alt) not in alts:
                failures.append(f"liquid_{k:02d}: alt text {alt!r} not among {page.alts!r}")
            if norm(title) != h1:
                failures.append(f"liquid_{k:02d}: title {title!r} shown as {''.join(page.h1)!r}")
    for f in failures:
        print("FAIL " + f)
    if failures:
        print(f"kept for inspection: {site}")
        sys.exit(f"{len(failures)} check(s) failed (seed {seed})")
    print(f"ok   {len(batch)} posts of random Liquid build with jekyll and show every string verbatim")


if __name__ == "__main__":
    main()
