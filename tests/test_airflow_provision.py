"""What Airflow's start provisions (pool, connections, variables), against a throw-away
metadata database initialised in process: an operator's change in Airflow is kept and said,
the settings' change reaches what nobody touched, and DuckDB's writer pool keeps one slot.
tests/test_airflow.py changes them through the REST API of a real deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from govdata.services import airflow


@pytest.fixture
def metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's ORM on a fresh SQLite database (conftest's is left alone), put back after."""
    from airflow import settings as airflow_settings
    from airflow.utils.db import initdb

    def point_at_the_environment() -> None:
        airflow_settings.dispose_orm()
        airflow_settings.configure_vars()
        airflow_settings.configure_orm()

    with monkeypatch.context() as patch:
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{tmp_path}/airflow.db")
        point_at_the_environment()
        try:
            initdb()
            yield
        finally:
            patch.undo()
            point_at_the_environment()


def _rows() -> dict[str, Any]:
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        pool = session.query(Pool).filter(Pool.pool == airflow.WAREHOUSE_WRITER_POOL).one()
        return {
            "pool": (pool.slots, pool.description),
            **{c.conn_id: c.host for c in session.query(Connection)},
            **{v.key: v.val for v in session.query(Variable)},
        }


def _operator_sets(**changes: Any) -> None:
    """What an operator's edit in the UI leaves in the metadata database."""
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        pool = session.query(Pool).filter(Pool.pool == airflow.WAREHOUSE_WRITER_POOL).one()
        for name, value in changes.items():
            if name == "pool_slots":
                pool.slots = value
            elif name == "pool_description":
                pool.description = value
            elif name.startswith("govdata_") and name in airflow.variables(Settings()):
                session.query(Variable).filter(Variable.key == name).one().val = value
            else:
                session.query(Connection).filter(Connection.conn_id == name).one().host = value


def test_provision_keeps_what_an_operator_changed(metadata: None, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", target="duckdb", superset_port=8088)
    first = airflow.provision(settings)
    assert sorted(first.notes) == sorted(
        f"created {key.replace(':', ' ')}" for key in airflow.wanted(settings)
    )
    assert not first.warnings and not first.errors
    _operator_sets(
        govdata_alert_channels="email oncall@tinh.gov.vn",
        pool_slots=4,
        pool_description="Ghi kho dữ liệu",
        govdata_ckan="http://cong-du-lieu.internal",
    )
    moved = settings.model_copy(update={"superset_port": 8099})  # nobody touched its connection

    again = airflow.provision(moved)
    rows = _rows()
    assert rows["govdata_alert_channels"] == "email oncall@tinh.gov.vn"
    assert rows["govdata_ckan"] == "http://cong-du-lieu.internal"
    assert rows["govdata_superset"].endswith(":8099")
    assert rows["pool"] == (1, "Ghi kho dữ liệu")  # DuckDB: one writer, whatever was set
    (error,) = again.errors
    assert "pool warehouse_writer had 4 slots" in error and "put back to 1" in error
    assert sorted(w.split(" as changed")[0] for w in again.warnings) == [
        "kept connection govdata_ckan",
        "kept pool warehouse_writer",
        "kept variable govdata_alert_channels",
    ]
    assert "'email oncall@tinh.gov.vn' (settings: '(log only)')" in " ".join(again.warnings)
    assert again.notes == [
        "updated connection govdata_superset from the settings: host"
        " 'http://127.0.0.1:8088' (settings: 'http://127.0.0.1:8099')"
    ]

    # Every start says it again, and changes nothing more.
    third = airflow.provision(moved)
    assert third.warnings == again.warnings and not third.errors and not third.notes
    assert _rows() == rows

    # On PostgreSQL, writers side by side are the operator's choice: kept, and said.
    _operator_sets(pool_slots=3)
    on_postgres = airflow.provision(moved.model_copy(update={"target": "postgres"}))
    assert _rows()["pool"] == (3, "Ghi kho dữ liệu") and not on_postgres.errors
    assert any("slots 3 (settings: 1)" in w for w in on_postgres.warnings), on_postgres


def test_the_metadata_database_is_named_after_the_home_and_cleaned_with_it(
    tmp_path: Path,
) -> None:
    """Its variables and connections are encrypted with the Fernet key under the home: a home
    made again after `make clean`, or a second checkout, must not meet the old database (its
    values would read back as None)."""
    import psycopg

    one = Settings(home=tmp_path / "one", airflow_metadata_url="")
    other = Settings(home=tmp_path / "other", airflow_metadata_url="")
    assert one.airflow_metadata_url != other.airflow_metadata_url
    assert one.airflow_metadata_url.endswith(f"govdata_airflow_{one.ckan_database_tag}")
    chosen = "postgresql://postgres@127.0.0.1:5432/somewhere_else"
    assert Settings(home=tmp_path, airflow_metadata_url=chosen).airflow_metadata_url == chosen

    airflow.superset.create_database(one.airflow_metadata_url)
    name = airflow.clean(one)
    assert name == f"govdata_airflow_{one.ckan_database_tag}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as server:
        found = server.execute("select 1 from pg_database where datname = %s", (name,)).fetchall()
    assert not found
