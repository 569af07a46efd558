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

The policy is enforced at every deployment and refresh: a permission, filter or demo user's
role changed in the UI is put back, and each change put back is reported (a warning in the
deployment's log). A password is never put back: when the demo password setting changes,
only the demo users whose password is still the one the deployment set get the new one.
"""

from __future__ import annotations

from typing import Any

import state

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


def _role(security_manager: Any, name: str, permissions: list[Any], changes: list[str]) -> Any:
    """Create the role or set its permissions; a difference put back goes to ``changes``."""
    role = security_manager.find_role(name)
    wanted = list(dict.fromkeys(permissions))
    if role is None:
        role = security_manager.add_role(name)
    else:
        before, after = {str(p) for p in role.permissions}, {str(p) for p in wanted}
        if before != after:
            changes.append(f"role {name!r}: {_difference(before, after)}")
    role.permissions = wanted
    return role


def _difference(before: set[str], after: set[str]) -> str:
    """What setting ``after`` in place of ``before`` puts back and takes away."""
    parts = []
    if added := sorted(after - before):
        parts.append(f"put back {', '.join(added)}")
    if removed := sorted(before - after):
        parts.append(f"took away {', '.join(removed)}")
    return "; ".join(parts)


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


def apply(spec: dict[str, Any], demo_password: str | None) -> tuple[list[str], list[str]]:
    """Create or update the roles, the row-level filters and the demo users; returns what was
    done and what was put back after a change made in Superset."""
    from superset import db, security_manager
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.models.core import Database
    from superset.utils.core import RowLevelSecurityFilterType

    log: list[str] = []
    changes: list[str] = []
    datasets = db.session.query(SqlaTable).all()
    readable = [d for d in datasets if not d.table_name.startswith(DATA_TEAM_PREFIX)]
    gamma = _gamma(security_manager)

    _role(
        security_manager,
        PROVINCE,
        [*gamma, _pvm(security_manager, "all_datasource_access", "all_datasource_access")],
        changes,
    )
    _role(
        security_manager,
        COMMUNE,
        [*gamma, *(_pvm(security_manager, "datasource_access", d.perm) for d in readable)],
        changes,
    )
    # No all_datasource_access: SQL Lab would read every schema with it (the ledger, raw).
    analyst = [*gamma, *_sql_lab(security_manager)]
    analyst += [_pvm(security_manager, "datasource_access", d.perm) for d in datasets]
    for database in db.session.query(Database).all():
        schema_perm = security_manager.get_schema_perm(database.database_name, None, MARTS)
        analyst.append(_pvm(security_manager, "schema_access", schema_perm))
    _role(security_manager, ANALYST, analyst, changes)
    log.append(f"roles {PROVINCE}, {COMMUNE}, {ANALYST}")

    # One role and its filters per commune; filters of communes no longer in force go.
    wanted: set[str] = set()
    for commune in spec["communes"]:
        role = _role(security_manager, f"{COMMUNE} {commune['code']}", [], changes)
        by_clause: dict[str, list[Any]] = {}
        for dataset in datasets:
            columns = {column.column_name for column in dataset.columns}
            clause = commune_clauses(columns, commune)
            if clause is not None:
                by_clause.setdefault(clause, []).append(dataset)
        for clause, tables in by_clause.items():
            name = f"{COMMUNE} {commune['code']}: {clause}"
            wanted.add(name)
            policy = {
                "type": str(RowLevelSecurityFilterType.REGULAR),
                "clause": clause,
                "description": f"{commune['name']} ({commune['code']}) chỉ xem số liệu của mình.",
                "roles": sorted({role.name}),
                "tables": sorted(t.table_name for t in tables),
            }
            rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
            if rls is None:
                rls = RowLevelSecurityFilter(name=name)
                db.session.add(rls)
            else:
                now = _filter(rls)
                if differing := [key for key, value in policy.items() if now[key] != value]:
                    changes.append(
                        f"row-level filter {name!r}: {', '.join(differing)} put back"
                        f" ({'; '.join(f'{k} was {now[k]!r}' for k in differing)})"
                    )
            rls.filter_type = RowLevelSecurityFilterType.REGULAR
            rls.clause = clause
            rls.description = policy["description"]
            rls.roles = [role]
            rls.tables = tables
    for stale in db.session.query(RowLevelSecurityFilter).all():
        if stale.name.startswith(f"{COMMUNE} ") and stale.name not in wanted:
            log.append(f"deleted row-level filter {stale.name!r}: no commune in force has it")
            db.session.delete(stale)
    log.append(f"{len(spec['communes'])} commune roles, {len(wanted)} row-level filters")

    if spec.get("demo_users") and demo_password:
        log.append(_demo_users(spec, demo_password, changes))
    db.session.commit()
    return log, changes


def _filter(rls: Any) -> dict[str, Any]:
    """What a row-level filter does, as the policy describes it."""
    return {
        "type": str(rls.filter_type),
        "clause": rls.clause,
        "description": rls.description,
        "roles": sorted(r.name for r in rls.roles),
        "tables": sorted(t.table_name for t in rls.tables),
    }


#: The demo users' password hashes as this deployment last set them (state.py).
DEMO_RECORD = "demo-users"


def _demo_users(spec: dict[str, Any], demo_password: str, changes: list[str]) -> str:
    """The demo users with their roles; the demo password for new ones and, when the setting
    changed, for those whose password is still the one set by the deployment."""
    from superset import security_manager
    from werkzeug.security import check_password_hash, generate_password_hash

    users = [("lanhdao", "Lãnh đạo", [PROVINCE]), ("phantich", "Phân tích", [ANALYST])]
    users += [
        (f"xa-{c['code']}", c["name"], [COMMUNE, f"{COMMUNE} {c['code']}"])
        for c in spec["communes"]
    ]
    record = state.load(DEMO_RECORD) or {}
    set_hashes: dict[str, str] = record.get("hashes") or {}
    # A hash costs ~0.5 s (~130 users): checked once, redone only when the setting changed.
    if "setting" in record:
        setting_changed = not check_password_hash(record["setting"], demo_password)
    else:  # deployed before this record existed: the first user's password tells
        first = security_manager.find_user(username=users[0][0])
        setting_changed = first is not None and not check_password_hash(
            first.password, demo_password
        )
    kept = []
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
            set_hashes[username] = user.password
            continue
        before = {r.name for r in user.roles}
        if before != set(role_names):
            changes.append(f"demo user {username!r}: roles {_difference(before, set(role_names))}")
        user.roles = roles
        if "setting" not in record:
            set_hashes.setdefault(username, user.password)
        if not setting_changed:
            continue
        if user.password == set_hashes.get(username):
            security_manager.reset_password(user.id, demo_password)
            set_hashes[username] = user.password
        else:
            kept.append(username)
    if kept:
        changes.append(
            "the demo password setting changed, but these demo users' passwords were changed"
            f" in Superset and are kept: {', '.join(kept)}"
        )
    if setting_changed or "setting" not in record:
        record["setting"] = generate_password_hash(demo_password)
    state.save(DEMO_RECORD, {"setting": record["setting"], "hashes": set_hashes})
    return f"{len(users)} demo users"
