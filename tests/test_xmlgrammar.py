"""The compiled grammar and the regex rendered from the same nodes accept the same lines."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from ingestion import compiled
from ingestion.xmlgrammar import Lit, alt, any_of, many, none_of, opt, regex, seq, star

# A small grammar using every kind of node: <a k="v">text</a>, optional <b/>, one or more <c>.
ENTITY = seq("&", alt("amp", "lt"), ";")
TEXT = star(alt(none_of("<>&", (0x00, 0x08), (0x0A, 0x1F), (0xFFFE, 0xFFFF)), ENTITY))
TOY = seq(
    opt(any_of("\ufeff")),
    '<a k="', Lit("yes", nocase=True), '">', TEXT,
    opt("<b/>"), many("<c>", star(any_of((0x30, 0x39))), "</c>"),
    "</a>", star(any_of(" \t")),
)  # fmt: skip
LINES = [
    '<a k="yes">x</a>',  # no <c>
    '<a k="yes">x<c></c></a>',
    '<a k="YeS">Tiếng Việt &amp; &lt;<b/><c>12</c><c>3</c></a> \t',
    '\ufeff<a k="yes"><c>1</c></a>',
    '<a k="yes">&gt;<c>1</c></a>',  # an entity the toy does not allow
    '<a k="yes">\ufffe<c>1</c></a>',
    '<a k="yes">\x01<c>1</c></a>',
    '<a k="yes">\t<c>1</c></a>',
    '<a k="yes">\x00<c>1</c></a>',  # NUL, the compiled checker's sentinel, inside a line
    '<a k="yes"><c>1</c></a>\x00',
    '<a k="yes"><c>1</c></a>\x00<a k="yes"><c>1</c></a>',
    '<a k="yes"><c>1</c></a><',
    '<a k="yes"><c>1</c></a',
    '<a k="yes"><c>x</c></a>',
    "",
    '<a k="yes">😀<c>1</c></a>',
]


def test_compiled_and_regex_accept_the_same_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVDATA_NATIVE_CACHE", str(tmp_path))
    library = compiled.build({"toy": TOY})
    assert library.parent == tmp_path
    assert compiled.build({"toy": TOY}) == library  # cached: not built twice
    grammars = compiled.load({"toy": TOY})
    assert grammars is not None, "re2c or a C compiler is missing: run `make install`"
    by_regex = pl.Series(LINES).str.contains(regex(TOY)).to_list()
    lines = pa.array([line.encode() for line in LINES], pa.large_binary())
    assert grammars.accepts("toy", lines).tolist() == by_regex
    assert by_regex[:4] == [False, True, True, True] and sum(by_regex) == 5
    # Slices, 32-bit offsets and strings are read where they start.
    assert grammars.accepts("toy", lines.slice(1, 3)).tolist() == by_regex[1:4]
    assert grammars.accepts("toy", pa.array(LINES)[2:]).tolist() == by_regex[2:]
    assert grammars.accepts("toy", pa.array([], pa.large_binary())).tolist() == []


def test_a_missing_tool_falls_back_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GOVDATA_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither re2c nor cc
    other = seq(TOY, "!")  # not built before
    assert compiled.load({"other": other}) is None
    assert "re2c is not installed" in caplog.text
