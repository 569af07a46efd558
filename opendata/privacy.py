"""Privacy of published files: small-count suppression and a scan for personal data.

Suppression (statistical disclosure control, cell by cell):

- a *primary* cell is a count above zero and below the threshold (``0.5`` too: a dossier
  shared between two successor communes is half a person, not nobody); zero is kept unless the
  rule says otherwise (it identifies nobody);
- *complementary* cells: where the rows of a group add up to a published total (the province
  row and its communes in one month, say: ``suppress.complementary_by``), a group with exactly
  one hidden cell in a column would give it away by subtraction, so the next smallest cell of
  that column in the group is hidden too;
- the *dependent* cells of a row with a hidden count (a rate computed from it) are hidden.

Everything else in the row is published: a cell is blanked, not the row.

The scan reads every written file back (CSV and Parquet) and stops the publish when a column
holds what looks like personal data: e-mail addresses, Vietnamese phone numbers, identity
numbers (9-digit CMND, 12-digit CCCD) or people's names.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from opendata.files import DatasetFiles
from opendata.spec import DatasetSpec, PersonalDataError, SpecError, Suppression


@dataclass(frozen=True)
class Suppressed:
    frame: pl.DataFrame
    cells: int  # cells set to null: primary, complementary and dependent
    rows: int  # rows with at least one suppressed cell
    primary: int = 0  # counts below the threshold
    complementary: int = 0  # counts hidden so the primary ones cannot be recomputed


def suppress_small_counts(
    frame: pl.DataFrame, rule: Suppression | None, min_count: int
) -> Suppressed:
    """Blank primary, complementary and dependent cells (see the module's docstring)."""
    if rule is None or min_count <= 0 or frame.is_empty():
        return Suppressed(frame, 0, 0)
    for name in rule.count_columns:
        # Counts restated on today's units can be fractional (a split commune's share).
        if not frame.schema[name].is_numeric():
            raise SpecError(
                f"suppress.count_columns: {name!r} is {frame.schema[name]}, not a count"
            )
    hidden: dict[str, list[bool]] = {}
    for name in rule.count_columns:
        hidden[name] = [
            value is not None
            and value == value  # not NaN
            and (value > 0 or (rule.zero and value == 0))
            and value < min_count
            for value in frame[name].to_list()
        ]
    primary = sum(sum(flags) for flags in hidden.values())

    complementary = 0
    if rule.complementary_by:
        groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
        for index, key in enumerate(frame.select(rule.complementary_by).iter_rows()):
            groups[key].append(index)
        for name in rule.count_columns:
            values = frame[name].to_list()
            flags = hidden[name]
            for members in groups.values():
                if sum(flags[i] for i in members) != 1:
                    continue
                candidates = [i for i in members if not flags[i] and values[i] is not None]
                if candidates:  # the smallest count above zero, else a zero
                    chosen = min(candidates, key=lambda i: (values[i] <= 0, values[i]))
                    flags[chosen] = True
                    complementary += 1

    row_hidden = [any(hidden[c][i] for c in rule.count_columns) for i in range(frame.height)]
    dependent = sum(
        sum(1 for i, value in enumerate(frame[c].to_list()) if row_hidden[i] and value is not None)
        for c in rule.dependent_columns
    )
    masks = {c: pl.Series(hidden[c], dtype=pl.Boolean) for c in rule.count_columns}
    row_mask = pl.Series(row_hidden, dtype=pl.Boolean)
    out = frame.with_columns(
        [pl.when(masks[c]).then(None).otherwise(pl.col(c)).alias(c) for c in rule.count_columns]
        + [
            pl.when(row_mask).then(None).otherwise(pl.col(c)).alias(c)
            for c in rule.dependent_columns
        ]
    )
    return Suppressed(
        out,
        cells=primary + complementary + dependent,
        rows=sum(row_hidden),
        primary=primary,
        complementary=complementary,
    )


# -- personal data scan -------------------------------------------------------------------------

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: Vietnamese mobile and landline numbers, with or without +84 and separators.
PHONE = re.compile(r"(?<![\d.,])(?:\+?84[ .-]?|0)(?:[235789]\d)(?:[ .-]?\d){7,8}(?![\d.,])")
#: CCCD (12 digits, starting with the province's 0xx code) or CMND (9 digits), a whole cell.
IDENTITY = re.compile(r"^\s*(?:0\d{11}|\d{9})\s*$")
#: The commonest Vietnamese family names (together about nine people in ten).
FAMILY_NAMES = frozenset(
    [
        "nguyen",
        "tran",
        "le",
        "pham",
        "hoang",
        "huynh",
        "phan",
        "vu",
        "vo",
        "dang",
        "bui",
        "do",
        "ho",
        "ngo",
        "duong",
        "ly",
        "dinh",
        "truong",
        "mai",
        "trinh",
        "dao",
        "doan",
        "lam",
        "luong",
        "cao",
        "ha",
        "quach",
        "ta",
    ]
)
#: Share of a column's distinct values that must look like people's names to stop the publish.
NAME_SHARE = 0.5


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def looks_like_person_name(value: str) -> bool:
    """``Nguyễn Văn An``: a family name and one to three capitalised given names, and nothing
    else (a commune named after a person, ``Xã Lê Lợi``, starts with its kind)."""
    words = value.split()
    if not 2 <= len(words) <= 4 or _ascii(words[0]) not in FAMILY_NAMES:
        return False
    return all(w[:1].isupper() and w[1:].islower() and w.isalpha() for w in words)


def personal_data_in(name: str, values: list[str], is_text: bool) -> str | None:
    """What kind of personal data column ``name`` holds, judged on its values, or None."""
    present = [v for v in values if v]
    for value in present:
        if EMAIL.search(value):
            return "e-mail addresses"
        if PHONE.search(value):
            return "phone numbers"
        if is_text and IDENTITY.match(value):
            return "identity numbers (CMND/CCCD)"
    distinct = set(present) if is_text else set()
    if distinct:
        named = sum(1 for v in distinct if looks_like_person_name(v))
        if named >= max(1, NAME_SHARE * len(distinct)):
            return "people's names"
    return None


def scan_frame(label: str, frame: pl.DataFrame, text_columns: set[str]) -> None:
    for column in frame.columns:
        values = frame[column].cast(pl.String).to_list()
        kind = personal_data_in(
            column, [v for v in values if v is not None], column in text_columns
        )
        if kind:
            raise PersonalDataError(
                f"{label}: column {column!r} holds what looks like {kind}: publish stopped "
                "before upload (only aggregates leave the warehouse; drop the column from "
                "the exposure's meta.ckan.columns or fix the mart)"
            )


def scan_files(spec: DatasetSpec, files: DatasetFiles) -> None:
    """Read every written file back and stop at the first column holding personal data."""
    import json

    schema = json.loads(files.table_schema.read_text(encoding="utf-8"))
    text_columns = {f["name"] for f in schema["fields"] if f["type"] == "string"}
    csv_frame = pl.read_csv(files.csv, infer_schema=False, encoding="utf8")
    scan_frame(f"{spec.name}: {Path(files.csv).name}", csv_frame, text_columns)
    parquet_frame = pl.read_parquet(files.parquet)
    scan_frame(f"{spec.name}: {Path(files.parquet).name}", parquet_frame, text_columns)
    scan_frame(
        f"{spec.name}: {Path(files.table_schema).name}",
        pl.DataFrame({"text": [files.table_schema.read_text(encoding="utf-8")]}),
        set(),
    )
