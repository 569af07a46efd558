"""Privacy of published files, without a server: suppression and the personal-data scan."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendata.files import write_files
from opendata.privacy import (
    looks_like_person_name,
    personal_data_in,
    scan_files,
    suppress_small_counts,
)
from opendata.spec import CkanMeta, ColumnDoc, DatasetSpec, Owner, PersonalDataError, Suppression

MIN = 5


def test_every_count_above_zero_and_below_the_threshold_is_hidden_fractions_too() -> None:
    frame = pl.DataFrame(
        {
            "unit": ["a", "b", "c", "d", "e"],
            "dossiers": [0.0, 0.5, 4.5, 5.0, 12.0],  # 0.5: a dossier shared by two communes
            "rate": [0.0, 1.0, 0.2, 0.4, 0.5],
        }
    )
    rule = Suppression(count_columns=["dossiers"], dependent_columns=["rate"])
    out = suppress_small_counts(frame, rule, MIN)
    assert out.frame["dossiers"].to_list() == [0.0, None, None, 5.0, 12.0]
    assert out.frame["rate"].to_list() == [0.0, None, None, 0.4, 0.5]
    assert out.frame["unit"].to_list() == ["a", "b", "c", "d", "e"]  # cells, not rows
    assert (out.primary, out.complementary, out.cells, out.rows) == (2, 0, 4, 2)


def test_a_lone_hidden_cell_is_joined_by_the_next_smallest_of_its_group() -> None:
    # Month 1: the province total (30) and three communes; only Kim Bang (3) is small, so
    # 30 - 12 - 15 would give it away: the next smallest commune (12) is hidden too.
    frame = pl.DataFrame(
        {
            "month": ["m1"] * 4 + ["m2"] * 4,
            "unit": ["province", "kim-bang", "hoa-lu", "gia-vien"] * 2,
            "dossiers": [30, 3, 12, 15, 30, 2, 3, 25],
        }
    )
    rule = Suppression(count_columns=["dossiers"], complementary_by=["month"])
    out = suppress_small_counts(frame, rule, MIN)
    assert out.frame["dossiers"].to_list() == [30, None, None, 15, 30, None, None, 25]
    assert (out.primary, out.complementary) == (3, 1)


@st.composite
def grouped_counts(draw: st.DrawFn) -> pl.DataFrame:
    """Groups of commune counts with their province total as one more row of the group."""
    rows: list[tuple[int, str, float]] = []
    for group in range(draw(st.integers(1, 6))):
        counts = draw(
            st.lists(
                st.one_of(st.integers(0, 40).map(float), st.sampled_from([0.5, 1.5, 2.5])),
                min_size=1,
                max_size=6,
            )
        )
        rows.append((group, "total", sum(counts)))
        rows.extend((group, f"commune-{i}", value) for i, value in enumerate(counts))
    return pl.DataFrame(rows, schema=["group", "unit", "count"], orient="row")


@settings(max_examples=300, deadline=None)
@given(grouped_counts())
def test_suppressed_cells_cannot_be_recovered_from_the_published_total(
    frame: pl.DataFrame,
) -> None:
    rule = Suppression(count_columns=["count"], complementary_by=["group"])
    out = suppress_small_counts(frame, rule, MIN).frame
    for (_,), members in out.group_by(["group"]):
        original = frame.filter(pl.col("group") == members["group"][0])
        published = members["count"].to_list()
        # no count above zero and below the threshold is published
        assert all(v is None or v == 0 or v >= MIN for v in published)
        hidden = [i for i, v in enumerate(published) if v is None]
        # one unknown in an additive group is recoverable by subtraction; two or more are not
        assert len(hidden) != 1
        if hidden:
            assert any(0 < v < MIN for v in original["count"].to_list())


# -- the personal-data scan ----------------------------------------------------------------------


def test_patterns() -> None:
    assert looks_like_person_name("Nguyễn Văn An")
    assert looks_like_person_name("Đỗ Thị Minh Hằng")
    assert not looks_like_person_name("Xã Lê Lợi")  # a commune named after a person
    assert not looks_like_person_name("Phường Trần Hưng Đạo")
    assert not looks_like_person_name("Cấp giấy phép xây dựng")
    assert personal_data_in("x", ["a@b.vn"], True) == "e-mail addresses"
    assert personal_data_in("x", ["0912 345 678"], True) == "phone numbers"
    assert personal_data_in("x", ["+84 912345678"], True) == "phone numbers"
    assert personal_data_in("x", ["037199001234"], True) == "identity numbers (CMND/CCCD)"
    assert personal_data_in("x", ["13285", "37", "1.001234.000.00.00.H42"], True) is None
    assert personal_data_in("rate", ["0.3912345678", "1240", "0.62"], False) is None


def _spec(columns: list[str]) -> DatasetSpec:
    return DatasetSpec(
        exposure="opendata_test",
        label="Test",
        description="Test",
        owner=Owner(None, None),
        ckan=CkanMeta(name="thu-nghiem", title="Thử nghiệm", columns=columns),
        model="kpi_test",
        schema="marts",
        relation="kpi_test",
        model_description="",
        columns=tuple(ColumnDoc(c, f"{c} docs", c, None, None) for c in columns),
    )


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["lienhe@example.vn", ""], "e-mail"),
        (["0912345678", "0987654321"], "phone"),
        (["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu"], "names"),
        (["037199001234", "001088004321"], "identity"),
    ],
)
def test_a_planted_column_stops_the_publish_naming_it(
    tmp_path: Path, values: list[str], kind: str
) -> None:
    spec = _spec(["unit_code", "ghi_chu", "dossiers"])
    frame = pl.DataFrame(
        {
            "unit_code": [str(13285 + i) for i in range(len(values))],
            "ghi_chu": values,  # an innocent name ("notes") hiding personal data
            "dossiers": list(range(10, 10 + len(values))),
        }
    )
    schema = {
        "fields": [
            {
                "name": c,
                "title": c,
                "description": c,
                "type": "integer" if c == "dossiers" else "string",
            }
            for c in frame.columns
        ]
    }
    files = write_files(spec, frame, {**schema, "missingValues": [""]}, tmp_path)
    with pytest.raises(PersonalDataError, match=rf"thu-nghiem.csv: column 'ghi_chu'.*{kind}"):
        scan_files(spec, files)


def test_aggregates_pass_the_scan(tmp_path: Path) -> None:
    spec = _spec(["unit_code", "unit_name", "dossiers"])
    frame = pl.DataFrame(
        {"unit_code": ["13285", "13286"], "unit_name": ["Xã Lê Lợi", "Phường Phủ Lý"]}
    ).with_columns(dossiers=pl.Series([120, 3400]))
    schema = {
        "fields": [
            {
                "name": c,
                "title": c,
                "description": c,
                "type": "integer" if c == "dossiers" else "string",
            }
            for c in frame.columns
        ],
        "missingValues": [""],
    }
    scan_files(spec, write_files(spec, frame, schema, tmp_path))


def test_a_row_filter_is_declarative_and_selects_rows_of_its_model_only(tmp_path: Path) -> None:
    """Filters are values, never SQL: text that tries to reach another table is a value that
    matches nothing, and SQL text where a filter belongs is refused."""
    import duckdb
    from pydantic import ValidationError

    from opendata.extract import build_query

    with pytest.raises(ValidationError):
        CkanMeta(
            name="x-1",
            title="X",
            columns=["a"],
            where="a = 1 union select payload from ops.rejected_records",
        )  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="starts_with"):
        CkanMeta(name="x-1", title="X", columns=["a"], where={"a": {"like": "%"}})
    spec = _spec(["a"])
    hostile = "1') union all select payload from ops.rejected_records --"
    spec = dataclasses.replace(
        spec, ckan=spec.ckan.model_copy(update={"where": {"a": hostile, "b": ["x", "y"]}})
    )
    query, parameters = build_query(spec)
    assert hostile not in query and parameters == [hostile, "x", "y"]
    with duckdb.connect() as warehouse:
        warehouse.execute("create schema marts; create schema ops")
        warehouse.execute("create table marts.kpi_test as select '1' as a, 'x' as b")
        warehouse.execute("create table ops.rejected_records as select 'secret' as payload")
        assert warehouse.execute(query, parameters).fetchall() == []
        ok = spec.ckan.model_copy(update={"where": {"a": "1", "b": {"starts_with": "x"}}})
        assert warehouse.execute(*build_query(dataclasses.replace(spec, ckan=ok))).fetchall() == [
            ("1",)
        ]
