"""The command line, through the command line: every option of every command reaches what it
names, and a wrong value is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from govdata.cli import app

WINDOW = ["--start", "2025-06-20", "--end", "2025-07-10"]  # crosses the merger


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.output
    return result.exit_code, result.output


def test_simulate_takes_every_option(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "hanoi"
    code, output = invoke(
        "simulate", "--out", str(out), "--scale", "0.002", "--seed", "3",
        "--province", "01", *WINDOW, "--faults", "0.05",
    )  # fmt: skip
    assert code == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["province_code"] == "01"
    assert summary["seed"] == 3
    assert summary["scale"] == 0.002
    assert summary["fault_rate"] == 0.05
    assert (summary["start"], summary["end"]) == ("2025-06-20", "2025-07-10")
    faults = (out / "faults.jsonl").read_text().splitlines()
    assert faults and summary["faults"] == len(faults)
    assert "faults injected" in output
    assert "Thành phố Hà Nội" in output


def test_simulate_writes_under_home_by_default(home: Path, tmp_path: Path) -> None:
    (home / "sources").unlink()  # the fixture's shared sources: write our own
    code, output = invoke("simulate", "--scale", "0.002", *WINDOW)
    assert code == 0, output
    summary = json.loads((home / "sources" / "summary.json").read_text())
    assert summary["province_code"] == "37"
    assert summary["fault_rate"] == 0.0
    assert not (home / "sources" / "faults.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--province", "36"], "part of 37"),
        (["simulate", "--province", "99"], "expected one of the 34"),
        (["simulate", "--start", "2025-02-30"], "is not a date"),
        (["simulate", "--start", "2025-07-02", "--end", "2025-07-01"], "is before"),
    ],
)
def test_a_wrong_value_is_one_clear_error(home: Path, args: list[str], message: str) -> None:
    code, output = invoke(*args)
    assert code == 2
    assert message in " ".join(output.split())
    assert "Traceback" not in output


@pytest.mark.slow
def test_ingest_build_docs_and_run_through_the_command_line(home: Path) -> None:
    code, output = invoke("ingest")
    assert code == 0, output
    for source in ("procedures.dossiers", "documents.status", "reports.submissions"):
        assert source in output
    code, output = invoke("build")
    assert code == 0, output
    assert "nodes passed" in output
    with duckdb.connect(str(home / "serving" / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql("select count(*) from marts.kpi_unit_month").fetchone()[0] > 0
    code, output = invoke("docs")
    assert code == 0, output
    assert "index.html" in output
    code, output = invoke("run", "--no-simulate", "--no-publish", "--no-dashboards")
    assert code == 0, output
    assert "run complete" in output
    assert "published" not in output and "dashboard:" not in output


def test_another_province_is_refused_in_a_home_that_holds_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "sources").unlink()
    code, output = invoke(
        "simulate", "--scale", "0.001", "--start", "2025-07-01", "--end", "2025-07-03"
    )
    assert code == 0, output
    monkeypatch.setenv("GOVDATA_PROVINCE_CODE", "01")
    for command in ("simulate", "ingest"):
        code, output = invoke(command)
        assert code == 1
        assert "holds the data of province 37, not 01" in " ".join(output.split())


def test_simulate_a_list_of_provinces_writes_each_as_when_simulated_alone(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "sources").unlink()
    window = ["--start", "2025-07-12", "--end", "2025-07-14"]
    code, output = invoke("simulate", "--province", "37,01", "--scale", "0.0005", *window)
    assert code == 0, output
    assert (home / "province_code").read_text().strip() == "01,37"
    alone = tmp_path / "alone"
    code, output = invoke("simulate", "--out", str(alone), "--province", "37",
                          "--scale", "0.0005", *window)  # fmt: skip
    assert code == 0, output

    def files(directory: Path) -> dict[str, bytes]:
        return {
            p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*"))
            if p.is_file()
        }

    national = files(home / "sources" / "37")
    assert national and national == files(alone)
    assert (
        json.loads((home / "sources" / "01" / "summary.json").read_text())["province_code"] == "01"
    )
    # The home holds these two provinces: another is refused, one of them alone is not.
    monkeypatch.setenv("GOVDATA_PROVINCE_CODE", "46")
    code, output = invoke("simulate", "--scale", "0.0005", *window)
    assert code == 1 and "holds the data of provinces 01,37" in " ".join(output.split())
