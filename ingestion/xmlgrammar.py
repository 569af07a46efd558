"""Grammars of canonical one-line XML messages, written once and run by two engines.

A grammar here spells every tag and attribute of a message literally and restricts text to
what XML allows unescaped (see :mod:`ingestion.documents.fastpath` for why the connector checks
lines this way). It renders to

- a regular expression (:func:`regex`), run by polars over a column of lines: always
  available, and the reference;
- a `re2c <https://re2c.org>`_ specification (:func:`re2c_spec`), which re2c compiles into a
  deterministic automaton in C (:mod:`ingestion.compiled`): the same language, checked much
  faster than by a regex engine, which matters for the gigabytes of XML a province sends in a
  year (bench/README.md, documents).

Both are rendered from the same nodes, so they cannot drift apart; tests compare them on good
and randomly damaged lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

# -- nodes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    """ASCII text, as is (``nocase``: letters in either case)."""

    text: str
    nocase: bool = False


@dataclass(frozen=True, slots=True)
class Chars:
    """One character: any of ``ranges`` (code points, inclusive), or any but them."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Seq:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    """``node`` optional (``?``), zero or more times (``*``) or one or more (``+``): the
    quantifier as both syntaxes write it."""

    node: Node
    quantifier: Literal["?", "*", "+"]


Node = Lit | Chars | Seq | Alt | Repeat


def _ranges(items: tuple[str | tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """Characters of strings one by one, and (first, last) code point ranges."""
    out: list[tuple[int, int]] = []
    for item in items:
        out += [(ord(c), ord(c)) for c in item] if isinstance(item, str) else [item]
    return tuple(out)


def any_of(*items: str | tuple[int, int]) -> Chars:
    return Chars(_ranges(items))


def none_of(*items: str | tuple[int, int]) -> Chars:
    return Chars(_ranges(items), negated=True)


EMPTY = Seq(())


def seq(*parts: Node | str) -> Seq:
    return Seq(tuple(Lit(p) if isinstance(p, str) else p for p in parts))


def alt(*options: Node | str) -> Alt:
    return Alt(tuple(Lit(o) if isinstance(o, str) else o for o in options))


def opt(*parts: Node | str) -> Repeat:
    return Repeat(seq(*parts), "?")


def many(*parts: Node | str) -> Repeat:
    """One or more."""
    return Repeat(seq(*parts), "+")


def star(*parts: Node | str) -> Repeat:
    """Zero or more."""
    return Repeat(seq(*parts), "*")


# -- rendering ----------------------------------------------------------------------------------


def _regex_char(point: int) -> str:
    if point < 0x20 or point > 0x7E:
        return f"\\x{point:02x}" if point < 0x100 else f"\\x{{{point:X}}}"
    return "\\" + chr(point) if chr(point) in "\\[]^-" else chr(point)


def _single(node: Node) -> bool:
    """Whether the node renders as one unit a quantifier applies to."""
    if isinstance(node, Seq) and len(node.parts) == 1:
        return _single(node.parts[0])
    return isinstance(node, (Chars, Alt))


def _regex(node: Node) -> str:
    match node:
        case Lit(text, nocase):
            escaped = pl.escape_regex(text)
            return f"(?i:{escaped})" if nocase else escaped
        case Chars(ranges, negated):
            items = "".join(
                _regex_char(a) if a == b else f"{_regex_char(a)}-{_regex_char(b)}"
                for a, b in ranges
            )
            return f"[{'^' if negated else ''}{items}]"
        case Seq(parts):
            return "".join(_regex(p) for p in parts)
        case Alt(options):
            return "(?:" + "|".join(_regex(o) for o in options) + ")"
        case Repeat(inner, quantifier):
            body = _regex(inner) if _single(inner) else f"(?:{_regex(inner)})"
            return body + quantifier
    raise TypeError(node)  # pragma: no cover


def regex(grammar: Node) -> str:
    """The grammar as a regular expression matching whole lines (polars' syntax)."""
    return f"^{_regex(grammar)}$"


def _re2c_char(point: int) -> str:
    if point < 0x20 or point > 0x7E or chr(point) in "\\]^-":
        return f"\\x{point:02X}" if point < 0x100 else f"\\u{point:04X}"
    return chr(point)


def _re2c(node: Node) -> str:
    match node:
        case Lit(text, nocase):
            if not text.isascii():
                raise ValueError(f"re2c literals here are ASCII: {text!r}")
            escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
            return f"'{escaped}'" if nocase else f'"{escaped}"'
        case Chars(ranges, negated):
            items = "".join(
                _re2c_char(a) if a == b else f"{_re2c_char(a)}-{_re2c_char(b)}" for a, b in ranges
            )
            return f"[{'^' if negated else ''}{items}]"
        case Seq(parts):
            return "(" + " ".join(_re2c(p) for p in parts) + ")" if parts else '""'
        case Alt(options):
            return "(" + " | ".join(_re2c(o) for o in options) + ")"
        case Repeat(inner, quantifier):
            return _re2c(inner) + quantifier
    raise TypeError(node)  # pragma: no cover


def re2c_spec(grammars: dict[str, Node]) -> str:
    """C source for re2c: per grammar, ``int64_t <name>_lines(offsets, data, count, out)``
    checks ``count`` lines laid out as an Arrow large binary array (line ``i`` is
    ``data[offsets[i]:offsets[i + 1]]``) and sets ``out[i]`` to 1 when the whole line is in
    the grammar's language, else 0; it returns how many are (-1 when out of memory).

    Each line is copied to a scratch buffer and ended by a NUL, the sentinel: no grammar
    admits one, so the automaton stops there or before, and a line matches only when the
    grammar ends exactly at the sentinel.
    """
    functions = []
    for name, grammar in grammars.items():
        functions.append(f"""
static int {name}(const unsigned char *scratch, size_t length)
{{
    const unsigned char *YYCURSOR = scratch, *YYMARKER;
    /*!re2c
        re2c:define:YYCTYPE = "unsigned char";
        re2c:yyfill:enable = 0;
        {name} = {_re2c(grammar)};
        {name} [\\x00] {{ return YYCURSOR == scratch + length + 1; }}
        * {{ return 0; }}
    */
}}

int64_t {name}_lines(const int64_t *offsets, const unsigned char *data, int64_t count,
                     unsigned char *out)
{{
    int64_t longest = 0, accepted = 0;
    for (int64_t i = 0; i < count; i++)
        if (offsets[i + 1] - offsets[i] > longest) longest = offsets[i + 1] - offsets[i];
    unsigned char *scratch = malloc((size_t)longest + 1);
    if (scratch == NULL) return -1;
    for (int64_t i = 0; i < count; i++) {{
        size_t length = (size_t)(offsets[i + 1] - offsets[i]);
        memcpy(scratch, data + offsets[i], length);
        scratch[length] = 0;
        out[i] = (unsigned char){name}(scratch, length);
        accepted += out[i];
    }}
    free(scratch);
    return accepted;
}}
""")
    return "#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n" + "".join(functions)
