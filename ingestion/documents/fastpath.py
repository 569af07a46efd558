"""The fast path: lines the strict grammar (:mod:`ingestion.documents.grammar`) accepts, and
their fields read with vectorised string functions.

An XML parser is far too slow for a province-year of messages on two cores (bench/README.md,
documents), so each line is first checked against the grammar; where it accepts a line, each
field's opening tag occurs exactly once, and the field is the text after it.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl
import pyarrow as pa

from ingestion import compiled
from ingestion.documents.grammar import (
    BLANKS,
    DOCUMENT_GRAMMAR,
    GRAMMAR_NAMES,
    GRAMMARS,
    MESSAGE_FIELDS,
    MESSAGE_TAGS,
    RECEIVER_TAG,
    REFERENCE_PATTERN,
    SIGNATURE_TAG,
    STATUS_FIELDS,
    STATUS_GRAMMAR,
    STATUS_POSITIONS,
    STATUS_TAGS,
    tag_pattern,
)
from ingestion.documents.tables import MESSAGES_SOURCE, STATUS_SOURCE


def _after(path: tuple[str, ...]) -> pl.Expr:
    """The text after the first opening tags ``path``, up to the next markup (null when they
    are absent)."""
    return pl.col("line").str.extract(tag_pattern(path) + "([^<]*)<", 1)


@functools.cache
def compiled_grammars() -> compiled.CompiledGrammars | None:
    """The compiled edXML grammars, looked up once per process (None: not buildable here)."""
    return compiled.load(GRAMMARS)


def accepted_lines(lines: pa.Array, bad_utf8: list[int], source: str) -> np.ndarray | None:
    """Whether the grammar accepts each line, by the compiled grammar (None where it cannot
    be built here: :func:`fast_query` then runs the grammar as a regex)."""
    grammars = compiled_grammars()
    if grammars is None:
        return None
    accepted = grammars.accepts(GRAMMAR_NAMES[source], lines)
    accepted[bad_utf8] = False
    return accepted


def fast_query(texts: pl.Series, source: str, accepted: np.ndarray | None = None) -> pl.LazyFrame:
    """Per line: ``_i`` (index), ``_accepted`` (the grammar accepts it) and the fields.

    ``accepted``, when given, is the grammar's verdict per line already (the compiled grammar,
    :func:`accepted_lines`); else polars runs the grammar as a regex. The fields are only
    meaningful where ``_accepted``: there each tag occurs exactly once (``To`` once per
    receiver), so the text after it is the element's. Status lines are read by position where
    ``_positional`` (see :data:`STATUS_POSITIONS`); the other accepted lines need
    :func:`tag_fields`. Lazy, so that polars spreads the work over the cores (and two files
    run together).
    """
    line = pl.col("line")
    columns: dict[str, pl.Series] = {"line": texts}
    if accepted is not None:
        columns["_verdict"] = pl.Series(accepted, dtype=pl.Boolean)
    frame = pl.DataFrame(columns).lazy().with_row_index("_i")
    accepted_expr = (
        pl.col("_verdict")
        if accepted is not None
        else line.str.contains(DOCUMENT_GRAMMAR if source == MESSAGES_SOURCE else STATUS_GRAMMAR)
    ).fill_null(False)
    if source == MESSAGES_SOURCE:
        return frame.select(
            pl.col("_i").cast(pl.Int64),
            accepted_expr.alias("_accepted"),
            pl.lit(True).alias("_positional"),
            *tag_fields(source),
        )
    pieces = frame.with_columns(_pieces=line.str.split_exact("<", 30))
    fields, checks = [], []
    for name, (position, tag) in STATUS_POSITIONS.items():
        piece = pl.col("_pieces").struct.field(f"field_{position}").str.strip_prefix("edXML:")
        checks.append(piece.str.starts_with(tag))
        fields.append(piece.str.slice(len(tag)).alias(name))
    return pieces.select(
        pl.col("_i").cast(pl.Int64),
        accepted_expr.alias("_accepted"),
        pl.all_horizontal(checks).fill_null(False).alias("_positional"),
        *fields,
        pl.lit(None, pl.String).alias("code"),
        "line",
    )


def tag_fields(source: str) -> list[pl.Expr]:
    """The fields of an accepted line, each read after its (unique) opening tag."""
    line = pl.col("line")
    if source == STATUS_SOURCE:
        return [_after(tag).alias(name) for name, tag in STATUS_TAGS.items()] + [
            pl.lit(None, pl.String).alias("code")
        ]
    return [
        *[_after(tag).alias(name) for name, tag in MESSAGE_TAGS.items()],
        line.str.extract_all(tag_pattern(RECEIVER_TAG) + "[^<]*")
        .list.eval(pl.element().str.replace(f"^<[^>]*>{BLANKS}<[^>]*>", ""))  # text has no ">"
        .alias("receivers"),
        line.str.contains(SIGNATURE_TAG, literal=True).alias("is_signed"),
        line.str.count_matches(REFERENCE_PATTERN).cast(pl.Int64).alias("attachment_count"),
    ]


def accepted_fields(collected: pl.DataFrame, source: str) -> pl.DataFrame:
    """The fields of the lines the grammar accepts, from :func:`fast_query`'s result."""
    accepted = collected.filter("_accepted")
    names = MESSAGE_FIELDS if source == MESSAGES_SOURCE else STATUS_FIELDS
    by_position = accepted.filter("_positional").select("_i", *names)
    others = accepted.filter(~pl.col("_positional"))
    if others.height == 0:
        return by_position
    by_tag = others.select("_i", *tag_fields(source))
    return pl.concat([by_position, by_tag]).sort("_i")


def fast_extract(texts: pl.Series, source: str) -> pl.DataFrame:
    """The fields of the lines the grammar accepts (column ``_i`` = line index)."""
    return accepted_fields(fast_query(texts, source).collect(), source)
