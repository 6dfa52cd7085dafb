"""Unit tests of the Rust translator: each type, escaping, refused values and names, the papermill registry,
and (where rustc is on PATH) the injected code compiled after a parameters cell and run.

    python -m unittest discover -s python/prunelab-papermill/tests -v
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import nbformat
from papermill.exceptions import PapermillException
from papermill.translators import papermill_translators

import prunelab_papermill
from prunelab_papermill import RustTranslator as T


class Values(unittest.TestCase):
    def test_int(self):
        self.assertEqual(T.translate(7), "7")
        self.assertEqual(T.translate(-3), "-3")
        self.assertEqual(T.translate(2**63), "9223372036854775808")

    def test_float(self):
        self.assertEqual(T.translate(0.5), "0.5")
        self.assertEqual(T.translate(2.0), "2.0")
        self.assertEqual(T.translate(-1.25), "-1.25")
        self.assertEqual(T.translate(1e-05), "1e-05")
        self.assertEqual(T.translate(1e20), "1e+20")
        self.assertEqual(T.translate(float("nan")), "(0.0 / 0.0)")
        self.assertEqual(T.translate(float("inf")), "(1.0 / 0.0)")
        self.assertEqual(T.translate(float("-inf")), "(-1.0 / 0.0)")

    def test_bool_is_not_an_int(self):
        self.assertEqual(T.translate(True), "true")
        self.assertEqual(T.translate(False), "false")
        self.assertEqual(T.translate([True, False]), "vec![true, false]")

    def test_none(self):
        self.assertEqual(T.translate(None), "None")

    def test_str(self):
        self.assertEqual(T.translate("digits"), '"digits"')
        self.assertEqual(T.translate(""), '""')
        self.assertEqual(T.translate("é✓😀"), '"é✓😀"')

    def test_lists(self):
        self.assertEqual(T.translate([1, 2, 3]), "vec![1, 2, 3]")
        self.assertEqual(T.translate([]), "vec![]")
        self.assertEqual(T.translate([1, 2.5]), "vec![1.0, 2.5]")
        self.assertEqual(T.translate(["a", "b"]), 'vec!["a", "b"]')
        self.assertEqual(T.translate([[1], [2, 3]]), "vec![vec![1], vec![2, 3]]")
        self.assertEqual(T.translate([1, None]), "vec![Some(1), None]")
        self.assertEqual(T.translate([None, None]), "vec![None, None]")

    def test_mixed_lists_are_refused(self):
        for bad in ([1, "a"], [True, 1], [[1], 2], ["a", 1.5]):
            with self.subTest(bad=bad), self.assertRaises(PapermillException) as e:
                T.translate(bad)
            self.assertIn("one type", str(e.exception))

    def test_dicts(self):
        self.assertEqual(T.translate({"a": 1, "b": 2}), '[("a".into(), 1), ("b".into(), 2)].into_iter().collect()')
        self.assertEqual(T.translate({"k": "v"}), '[("k".into(), "v".into())].into_iter().collect()')
        self.assertEqual(T.translate({"a": 1, "b": None}), '[("a".into(), Some(1)), ("b".into(), None)].into_iter().collect()')
        self.assertEqual(T.translate({}), "[].into_iter().collect()")
        with self.assertRaises(PapermillException):
            T.translate({"a": 1, "b": "x"})
        with self.assertRaises(PapermillException):
            T.translate({1: 2})


class Escaping(unittest.TestCase):
    def test_quotes_backslashes_and_controls(self):
        self.assertEqual(T.translate('say "hi"'), r'"say \"hi\""')
        self.assertEqual(T.translate("C:\\dir\\"), r'"C:\\dir\\"')
        self.assertEqual(T.translate("a\nb\r\tc\0"), r'"a\nb\r\tc\0"')
        self.assertEqual(T.translate("\x1b[31m\x7f"), r'"\u{1b}[31m\u{7f}"')

    def test_bidi_and_separators_are_escaped(self):
        self.assertEqual(T.translate("a\u202eb\u2028c\u200b"), r'"a\u{202e}b\u{2028}c\u{200b}"')

    def test_a_hostile_value_stays_inside_its_literal(self):
        hostile = '"); std::process::exit(1); ("\\'
        line = T.assign("name", T.translate(hostile))
        self.assertEqual(line, r'let name = papermill_param(&name, "\"); std::process::exit(1); (\"\\");')
        self.assertEqual(len(T.codify({"name": "x\n}\nfn main() {}"}).splitlines()), 2 + len(prunelab_papermill.HELPERS.splitlines()))

    def test_lone_surrogates_are_refused(self):
        with self.assertRaises(PapermillException):
            T.translate("\ud800")

    def test_names_must_be_identifiers(self):
        self.assertEqual(T.assign("seed_2", "7"), "let seed_2 = papermill_param(&seed_2, 7);")
        for bad in ("x = 1; evil(); let y", "2x", "fn", "self", "_", "a-b", "", "é"):
            with self.subTest(bad=bad), self.assertRaises(PapermillException):
                T.codify({bad: 1})

    def test_comments_cannot_break_out(self):
        self.assertEqual(T.comment("Parameters"), "// Parameters")
        self.assertEqual(T.comment("a\nlet x = 1;"), "// a\n// let x = 1;")


class Papermill(unittest.TestCase):
    def test_registered_under_the_kernel_and_the_language(self):
        import papermill  # noqa: F401  (loads the engine entry points, which register the translator)

        for kernel, language in (("prunelab", "Rust"), ("other", "rust"), ("other", "Rust")):
            self.assertIs(papermill_translators.find_translator(kernel, language), T)

    def test_codify(self):
        code = T.codify({"seeds": [3, 4], "lr": 0.01}, "Parameters")
        lines = code.splitlines()
        self.assertEqual(lines[0], "// Parameters")
        self.assertEqual(lines[-2:], ["let seeds = papermill_param(&seeds, vec![3, 4]);", "let lr = papermill_param(&lr, 0.01);"])

    def test_inspect(self):
        cell = nbformat.v4.new_code_cell(
            "let seeds: Vec<u64> = vec![0, 1]; // the seeds\nlet mut lr = 0.5;\nprintln!(\"x\");\nlet s: String = \"a\".into();"
        )
        got = [tuple(p) for p in T.inspect(cell)]
        self.assertEqual(
            got,
            [("seeds", "Vec<u64>", "vec![0, 1]", "the seeds"), ("lr", "None", "0.5", ""), ("s", "String", '"a".into()', "")],
        )


# A parameters cell with declared types, the injected cell, and a line that prints what they hold.
DECLARED = """\
let seeds: Vec<u64> = vec![0, 1, 2];
let seed: u64 = 1;
let small: i8 = 0;
let lr: f32 = 0.001;
let scale: f64 = 1.0;
let ratios: Vec<f64> = vec![];
let name: String = String::from("x");
let label: &str = "x";
let path: std::path::PathBuf = std::path::PathBuf::new();
let names: Vec<String> = vec![];
let flag: bool = false;
let limit: Option<usize> = Some(3);
let tag: Option<String> = None;
let maybe: Vec<Option<u32>> = vec![];
let nan: f64 = 0.0;
let inf: f32 = 0.0;
let grid: Vec<Vec<u8>> = vec![];
let map: std::collections::BTreeMap<String, i64> = Default::default();
let empty: Vec<u64> = vec![1];
"""
PARAMS = {
    "seeds": [7, 8],
    "seed": 9,
    "small": -7,
    "lr": 0.5,
    "scale": 3,
    "ratios": [1, 2.5],
    "name": 'q"\\\n\u202e',
    "label": "lab",
    "path": "/tmp/x",
    "names": ["a", "b"],
    "flag": True,
    "limit": None,
    "tag": "t",
    "maybe": [1, None],
    "nan": float("nan"),
    "inf": float("-inf"),
    "grid": [[1], [2, 3]],
    "map": {"a": 1, "b": 2},
    "empty": [],
}
PRINT = (
    'println!("{seeds:?}|{seed}|{small}|{lr}|{scale}|{ratios:?}|{name:?}|{label}|{path:?}|{names:?}|{flag}|{limit:?}|'
    '{tag:?}|{maybe:?}|{nan}|{inf}|{grid:?}|{map:?}|{empty:?}");'
)
EXPECTED = (
    '[7, 8]|9|-7|0.5|3|[1.0, 2.5]|"q\\"\\\\\\n\\u{202e}"|lab|"/tmp/x"|["a", "b"]|true|None|Some("t")|[Some(1), None]|'
    'NaN|-inf|[[1], [2, 3]]|{"a": 1, "b": 2}|[]'
)


@unittest.skipUnless(shutil.which("rustc"), "rustc is not on PATH")
class Compiles(unittest.TestCase):
    def test_injected_cell_keeps_the_declared_types(self):
        code = T.codify(PARAMS)
        helpers, lets = code[: code.index("let ")], code[code.index("let ") :]
        # evcxr puts a cell's items at the top level and its statements in a function; so does this program.
        body = DECLARED + lets + PRINT
        src = helpers + "\nfn main() {\n" + body + "\n}\n"
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "main.rs"), "w", encoding="utf-8") as f:
                f.write(src)
            out = subprocess.run(
                ["rustc", "--edition", "2021", "-A", "warnings", "-o", os.path.join(d, "main"), os.path.join(d, "main.rs")],
                capture_output=True,
                text=True,
            )
            self.assertEqual(out.returncode, 0, out.stderr + "\n" + src)
            run = subprocess.run([os.path.join(d, "main")], capture_output=True, text=True, check=True)
        self.assertEqual(run.stdout.strip(), EXPECTED)


if __name__ == "__main__":
    unittest.main()
