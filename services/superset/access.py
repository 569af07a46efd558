"""Who sees what in Superset, created by the deployment (import_assets.py --access FILE).

Runs inside .venv-superset with an app context. Roles (idempotent: re-running updates them):

- ``Tỉnh`` (province): every dashboard and every dataset, every unit.
- ``Xã`` (commune): the dashboards of every dataset but the data team's (ops_*), read through
  row-level security: each commune has a role ``Xã <code>`` holding only its filters, one per
  kind of unit column (today's commune code, the unit's key, a commune's code), so a user with
  ``Xã`` and ``Xã 14353`` sees commune 14353's rows only, in charts and in the chart-data API.
  A dataset of the province only (its targets) shows a commune nothing.
- ``Phân tích`` (analyst): every dashboard and SQL Lab on the warehouse connection, which is
  read-only (the DuckDB serving copy opened read_only, or PostgreSQL's read-only role) and
  allows no DML; the schema is restricted to ``marts`` (SQL Lab checks every table a query
  reads against it).
- Public: nothing (Superset's Public role has no permission; anonymous visitors get the login).

Demo deployments also get users: ``lanhdao`` (province), ``phantich`` (analyst) and
``xa-<code>`` for every commune, with the demo password from the settings.
"""

from __future__ import annotations

from typing import Any

PROVINCE, COMMUNE, ANALYST = "Tỉnh", "Xã", "Phân tích"
DATA_TEAM_PREFIX = "ops_"
MARTS = "marts"


def _gamma(security_manager: Any) -> list[Any]:
    """Gamma's permissions: the dashboards and charts, read only, no data of their own."""
    return _permissions_of(security_manager, "Gamma")


def _sql_lab(security_manager: Any) -> list[Any]:
    return _permissions_of(security_manager, "sql_lab")


def _permissions_of(security_manager: Any, name: str) -> list[Any]:
    """A role `superset init` keeps in sync with the installed version."""
    role = security_manager.find_role(name)
    if role is None:
        raise RuntimeError(f"role {name} is missing: run `superset init` first")
    return list(role.permissions)


def _pvm(security_manager: Any, permission: str, view: str) -> Any:
    return security_manager.add_permission_view_menu(permission, view)


def _role(security_manager: Any, name: str, permissions: list[Any]) -> Any:
    role = security_manager.add_role(name)
    role.permissions = list(dict.fromkeys(permissions))
    return role


def commune_clauses(columns: set[str], commune: dict[str, str]) -> str | None:
    """The row-level filter of a dataset with these columns for one commune, or None."""
    code, key = commune["code"], commune["unit_key"]
    if "current_commune_code" in columns:
        return f"current_commune_code = '{code}'"
    if "unit_key" in columns:
        return f"unit_key = '{key}'"
    if "unit_code" in columns and "unit_level" in columns:
        return f"unit_code = '{code}' AND unit_level = 'commune'"
    if "unit_code" in columns:
        return f"unit_code = '{code}'"
    return None


def apply(spec: dict[str, Any], demo_password: str | None) -> list[str]:
    """Create or update the roles, the row-level filters and the demo users; returns a log."""
    from superset import db, security_manager
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.models.core import Database
    from superset.utils.core import RowLevelSecurityFilterType

    log: list[str] = []
    datasets = db.session.query(SqlaTable).all()
    readable = [d for d in datasets if not d.table_name.startswith(DATA_TEAM_PREFIX)]
    gamma = _gamma(security_manager)

    _role(
        security_manager,
        PROVINCE,
        [*gamma, _pvm(security_manager, "all_datasource_access", "all_datasource_access")],
    )
    _role(
        security_manager,
        COMMUNE,
        [*gamma, *(_pvm(security_manager, "datasource_access", d.perm) for d in readable)],
    )
    # No all_datasource_access: SQL Lab would read every schema with it (the ledger, raw).
    analyst = [*gamma, *_sql_lab(security_manager)]
    analyst += [_pvm(security_manager, "datasource_access", d.perm) for d in datasets]
    for database in db.session.query(Database).all():
        schema_perm = security_manager.get_schema_perm(database.database_name, None, MARTS)
        analyst.append(_pvm(security_manager, "schema_access", schema_perm))
    _role(security_manager, ANALYST, analyst)
    log.append(f"roles {PROVINCE}, {COMMUNE}, {ANALYST}")

    # One role and its filters per commune; filters of communes no longer in force go.
    wanted: set[str] = set()
    for commune in spec["communes"]:
        role = _role(security_manager, f"{COMMUNE} {commune['code']}", [])
        by_clause: dict[str, list[Any]] = {}
        for dataset in datasets:
            columns = {column.column_name for column in dataset.columns}
            clause = commune_clauses(columns, commune)
            if clause is not None:
                by_clause.setdefault(clause, []).append(dataset)
        for clause, tables in by_clause.items():
            name = f"{COMMUNE} {commune['code']}: {clause}"
            wanted.add(name)
            rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
            if rls is None:
                rls = RowLevelSecurityFilter(name=name)
                db.session.add(rls)
            rls.filter_type = RowLevelSecurityFilterType.REGULAR
            rls.clause = clause
            rls.description = f"{commune['name']} ({commune['code']}) chỉ xem số liệu của mình."
            rls.roles = [role]
            rls.tables = tables
    for stale in db.session.query(RowLevelSecurityFilter).all():
        if stale.name.startswith(f"{COMMUNE} ") and stale.name not in wanted:
            db.session.delete(stale)
    log.append(f"{len(spec['communes'])} commune roles, {len(wanted)} row-level filters")

    if spec.get("demo_users") and demo_password:
        users = [("lanhdao", "Lãnh đạo", [PROVINCE]), ("phantich", "Phân tích", [ANALYST])]
        users += [
            (f"xa-{c['code']}", c["name"], [COMMUNE, f"{COMMUNE} {c['code']}"])
            for c in spec["communes"]
        ]
        # Passwords are hashed once (~130 hashes cost a minute): again only when the demo
        # password changed, which the first user's hash tells.
        from werkzeug.security import check_password_hash

        first = security_manager.find_user(username=users[0][0])
        changed = first is not None and not check_password_hash(first.password, demo_password)
        for username, first_name, role_names in users:
            roles = [security_manager.find_role(name) for name in role_names]
            user = security_manager.find_user(username=username)
            if user is None:
                user = security_manager.add_user(
                    username,
                    first_name,
                    "GovData demo",
                    f"{username}@demo.govdata.invalid",
                    roles,
                    password=demo_password,
                )
                if not user:
                    raise RuntimeError(f"could not create the demo user {username!r}")
            else:
                user.roles = roles
                if changed:
                    security_manager.reset_password(user.id, demo_password)
        log.append(f"{len(users)} demo users")
    db.session.commit()
    return log
