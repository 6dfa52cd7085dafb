"""papermill's parameter translator for Rust notebooks on the prunelab kernel (evcxr).

papermill writes the parameters it is given into a cell after the notebook's cell tagged ``parameters``. For
Rust that cell rebinds every parameter with the type the ``parameters`` cell declared, so a notebook that says

    let seeds: Vec<u64> = vec![0, 1, 2, 3];
    let lr: f32 = 0.001;

and is run with ``-y 'seeds: [7, 8]' -p lr 0.01`` gets ``seeds: Vec<u64>`` and ``lr: f32`` again, not the
``Vec<i32>``/``f64`` a bare literal would give (evcxr keeps a variable's type from cell to cell, so the type
must be the declared one for the cells below to compile). The injected cell does this with a small trait,
``PapermillParam``, defined in the cell itself: ``let seeds = papermill_param(&seeds, vec![7, 8]);`` reads the
type of the earlier ``seeds`` and turns the literal into it.

Values (see README.md, "Parameters with papermill"):

* ``int`` -> an integer literal (``7``, ``-3``): any integer type the parameters cell declared; also accepted
  for ``f32``/``f64`` parameters.
* ``float`` -> a float literal (``0.5``, ``2.0``, ``1e-05``); NaN and infinities -> ``(0.0 / 0.0)``, ``(1.0 / 0.0)``, ``(-1.0 / 0.0)``.
* ``bool`` -> ``true``/``false``.
* ``str`` -> an escaped Rust string literal (``"..."``, a ``&'static str``), accepted for ``&str``,
  ``String``, ``PathBuf`` and ``Option<String>`` parameters.
* ``list`` -> ``vec![...]`` of one kind of element (ints and floats together become floats; a list holding
  ``None`` becomes ``vec![Some(..), None]``); other mixtures are refused. ``Vec<String>`` accepts a list of
  strings.
* ``None`` -> ``None``; any other value for an ``Option<T>`` parameter becomes ``Some(value)``.
* ``dict`` (string keys) -> ``[("k".into(), v), ...].into_iter().collect()``: a ``BTreeMap``, ``HashMap`` or
  ``Vec<(String, T)>`` parameter.

A parameter must be declared in the ``parameters`` cell (papermill also warns "Passed unknown parameter");
otherwise the injected cell does not compile. Names must be Rust identifiers; strings are escaped, so no
value or name can add code to the cell.
"""

import math
import re
import unicodedata

from papermill.exceptions import PapermillException
from papermill.models import Parameter
from papermill.translators import Translator, papermill_translators

__all__ = ["RustTranslator", "HELPERS", "register", "rust_string"]

__version__ = "0.1.0"

# Rust's strict and reserved keywords (2021 edition); `self`, `Self`, `super` and `crate` included.
KEYWORDS = frozenset(
    """as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod
    move mut pub ref return self Self static struct super trait true type unsafe use where while abstract become
    box do final macro override priv try typeof unsized virtual yield union""".split()
)
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# The injected cell's first lines: the trait that gives each value its parameter's declared type. One impl per
# accepted conversion; the blanket `T -> T` impl covers every declared type, the others add what a literal
# alone cannot be (a `String` from "...", `Some(v)` for an `Option`, a float from an integer).
HELPERS = """\
trait PapermillParam<V> { fn papermill_from(v: V) -> Self; }
impl<T> PapermillParam<T> for T { fn papermill_from(v: T) -> T { v } }
impl<T> PapermillParam<T> for Option<T> { fn papermill_from(v: T) -> Option<T> { Some(v) } }
impl PapermillParam<&'static str> for String { fn papermill_from(v: &'static str) -> String { v.into() } }
impl PapermillParam<&'static str> for Option<String> { fn papermill_from(v: &'static str) -> Option<String> { Some(v.into()) } }
impl PapermillParam<&'static str> for std::path::PathBuf { fn papermill_from(v: &'static str) -> std::path::PathBuf { v.into() } }
impl PapermillParam<Vec<&'static str>> for Vec<String> { fn papermill_from(v: Vec<&'static str>) -> Vec<String> { v.into_iter().map(String::from).collect() } }
impl PapermillParam<i64> for f64 { fn papermill_from(v: i64) -> f64 { v as f64 } }
impl PapermillParam<i64> for f32 { fn papermill_from(v: i64) -> f32 { v as f32 } }
impl PapermillParam<Vec<i64>> for Vec<f64> { fn papermill_from(v: Vec<i64>) -> Vec<f64> { v.into_iter().map(|x| x as f64).collect() } }
impl PapermillParam<Vec<i64>> for Vec<f32> { fn papermill_from(v: Vec<i64>) -> Vec<f32> { v.into_iter().map(|x| x as f32).collect() } }
fn papermill_param<T: PapermillParam<V>, V>(_declared: &T, v: V) -> T { T::papermill_from(v) }
"""


def rust_string(value):
    """A Rust string literal for ``value``: quotes, backslashes and every control, format (bidi), separator or
    private-use character escaped, so the literal ends where it should and reads as what it holds."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif 0xD800 <= code <= 0xDFFF:
            raise PapermillException(
                f"prunelab translator: the string {value!r} holds a lone surrogate, which Rust strings cannot hold"
            )
        elif unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _kind(val):
    """The Rust kind of a value, for checking that a list holds one kind."""
    if val is None:
        return "none"
    if isinstance(val, bool):
        return "bool"
    if isinstance(val, int):
        return "int"
    if isinstance(val, float):
        return "float"
    if isinstance(val, str):
        return "str"
    if isinstance(val, list):
        return "list"
    if isinstance(val, dict):
        return "dict"
    return type(val).__name__


class RustTranslator(Translator):
    """Parameters as Rust ``let`` lines that keep the types of the ``parameters`` cell (see the module doc)."""

    @classmethod
    def translate_none(cls, val):
        return "None"

    @classmethod
    def translate_str(cls, val):
        return rust_string(val)

    @classmethod
    def translate_escaped_str(cls, str_val):
        # papermill's last resort for types it does not know (dates from YAML, for example): their text.
        return rust_string(str(str_val))

    @classmethod
    def translate_raw_str(cls, val):
        return rust_string(str(val))

    @classmethod
    def translate_int(cls, val):
        return str(int(val))

    @classmethod
    def translate_float(cls, val):
        # NaN and the infinities as float expressions, so they take the declared float type (f32 or f64).
        if math.isnan(val):
            return "(0.0 / 0.0)"
        if math.isinf(val):
            return "(1.0 / 0.0)" if val > 0 else "(-1.0 / 0.0)"
        text = repr(float(val))
        if not any(c in text for c in ".e"):
            text += ".0"
        return text

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_list(cls, val):
        kinds = {_kind(v) for v in val}
        unknown = kinds - {"none", "bool", "int", "float", "str", "list", "dict"}
        if unknown:
            raise PapermillException(f"prunelab translator: cannot write {sorted(unknown)} values in Rust: {val!r}")
        values = kinds - {"none"}
        if values == {"int", "float"}:
            val = [float(v) if _kind(v) == "int" else v for v in val]
            values = {"float"}
        if len(values) > 1:
            raise PapermillException(
                f"prunelab translator: a Rust Vec holds one type; this list mixes {', '.join(sorted(values))}: {val!r}"
            )
        items = [cls.translate(v) for v in val]
        if "none" in kinds and values:
            items = [i if v is None else f"Some({i})" for v, i in zip(val, items)]
        return f"vec![{', '.join(items)}]"

    @classmethod
    def _in_map(cls, val):
        """A value inside a map: strings become ``"...".into()``, as the map's own type decides them."""
        if isinstance(val, str):
            return f"{rust_string(val)}.into()"
        if isinstance(val, dict):
            return cls.translate_dict(val)
        return cls.translate(val)

    @classmethod
    def translate_dict(cls, val):
        for k in val:
            if not isinstance(k, str):
                raise PapermillException(f"prunelab translator: map keys must be strings, got {k!r} in {val!r}")
        kinds = {_kind(v) for v in val.values()} - {"none"}
        if kinds == {"int", "float"}:
            val = {k: float(v) if _kind(v) == "int" else v for k, v in val.items()}
            kinds = {"float"}
        if len(kinds) > 1:
            raise PapermillException(
                f"prunelab translator: a Rust map holds one value type; this one mixes {', '.join(sorted(kinds))}: "
                f"{val!r}"
            )
        has_none = any(v is None for v in val.values())
        entries = []
        for k, v in val.items():
            item = cls._in_map(v)
            if has_none and kinds and v is not None:
                item = f"Some({item})"
            entries.append(f"({rust_string(k)}.into(), {item})")
        return f"[{', '.join(entries)}].into_iter().collect()"

    @classmethod
    def comment(cls, cmt_str):
        return "\n".join(f"// {line}".rstrip() for line in str(cmt_str).splitlines() or [""])

    @classmethod
    def check_name(cls, name):
        if not isinstance(name, str) or not IDENT.match(name) or name == "_" or name in KEYWORDS:
            raise PapermillException(
                f"prunelab translator: parameter name {name!r} is not a Rust identifier (letters, digits and _, "
                "not a keyword)"
            )
        return name

    @classmethod
    def assign(cls, name, str_val):
        name = cls.check_name(name)
        return f"let {name} = papermill_param(&{name}, {str_val});"

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        content = f"{cls.comment(comment)}\n{HELPERS}"
        for name, val in parameters.items():
            content += f"{cls.assign(name, cls.translate(val))}\n"
        return content

    # `let [mut] name[: Type] = default; // help`, one per line.
    _LET = re.compile(
        r"^\s*let\s+(?:mut\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(?P<type>[^=]+?))?\s*=\s*"
        r"(?P<default>.+?)\s*;\s*(?://+\s*(?P<help>.*?))?\s*$"
    )

    @classmethod
    def inspect(cls, parameters_cell):
        """The parameters cell's one-line ``let`` bindings (for ``papermill --help-notebook`` and papermill's
        unknown-parameter warning)."""
        params = []
        for line in parameters_cell.source.splitlines():
            m = cls._LET.match(line)
            if m:
                params.append(
                    Parameter(
                        name=m.group("name"),
                        inferred_type_name=(m.group("type") or "None").strip(),
                        default=m.group("default"),
                        help=m.group("help") or "",
                    )
                )
        return params


def register():
    """Registers this translator (kernel ``prunelab``, languages ``rust`` and ``Rust``) and every other
    ``papermill.translators`` entry point of the environment with papermill. Idempotent."""
    for name in ("prunelab", "rust", "Rust"):
        papermill_translators.register(name, RustTranslator)
    try:
        from importlib.metadata import entry_points
    except ImportError:  # Python < 3.8
        return
    eps = entry_points()
    group = eps.select(group="papermill.translators") if hasattr(eps, "select") else eps.get("papermill.translators", [])
    for ep in group:
        if ep.value == "prunelab_papermill:RustTranslator":
            continue
        try:
            papermill_translators.register(ep.name, ep.load())
        except Exception as e:  # a broken plug-in must not stop papermill
            import logging

            logging.getLogger(__name__).warning(f"papermill translator {ep.name!r} ({ep.value}): {e}")
