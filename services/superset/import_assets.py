"""Import the platform's Superset assets when they changed; lose no edit made in the UI.

Runs inside .venv-superset with SUPERSET_CONFIG_PATH set (govdata.services.superset does it):

    python services/superset/import_assets.py superset_assets --user admin [--ensure-admin]
        [--reset-admin-password] [--reimport] [--access FILE] [--backups DIR] [--report FILE]

The bundle has the layout of Superset's "export all assets" (metadata.yaml of type assets,
databases/, datasets/, charts/, dashboards/). A database whose sqlalchemy_uri is the
placeholder below gets the warehouse URI from the GOVDATA_WAREHOUSE_URI environment variable
(an environment variable, not an argument, so a password never shows in the process list).

What the UI changed is kept. The bundle is imported (overwriting its assets) only when it
differs from the last one imported into this metadata database, warehouse URI included, or
with --reimport: the fingerprint and every asset's ``changed_on`` right after the import are
kept in Superset's key-value store (state.py). When an import is due and a database, dataset,
chart or dashboard of the bundle was changed in Superset since the last one, it is exported
first (one zip per kind under --backups, importable from the UI's lists) and a warning names it
and the zip. With --ensure-admin the admin user is created when missing, never changed when
present; --reset-admin-password sets its password from GOVDATA_SUPERSET_ADMIN_PASSWORD.

Unlike `superset import-directory`, which logs errors and exits 0, any problem (invalid YAML,
unknown folder, chart or dataset missing from the bundle, rejected import) exits with status 1
and a message on stderr. --report FILE receives what was done as JSON (imported or not, the
notes, the warnings, the backup).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zipfile import ZipFile

import state
import yaml

PLACEHOLDER = "{{ GOVDATA_WAREHOUSE_URI }}"
FOLDERS = ("databases/", "datasets/", "charts/", "dashboards/", "queries/")


class AssetsError(Exception):
    """The bundle is invalid or the import was rejected."""


def read_bundle(root: Path, warehouse_uri: str | None) -> dict[str, str]:
    """Read every YAML file of the bundle, checked, with the warehouse URI filled in."""
    if not (root / "metadata.yaml").is_file():
        raise AssetsError(f"{root}: no metadata.yaml, not an assets bundle")
    contents: dict[str, str] = {}
    configs: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        name = path.relative_to(root).as_posix()
        if path.suffix not in (".yaml", ".yml"):
            raise AssetsError(f"{name}: not a YAML file")
        if name != "metadata.yaml" and not name.startswith(FOLDERS):
            raise AssetsError(f"{name}: not in one of {', '.join(FOLDERS)}")
        text = path.read_text(encoding="utf-8")
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise AssetsError(f"{name}: invalid YAML: {error}") from None
        if not isinstance(config, dict):
            raise AssetsError(f"{name}: expected a mapping at the top level")
        if name.startswith("databases/") and config.get("sqlalchemy_uri") == PLACEHOLDER:
            if not warehouse_uri:
                raise AssetsError(f"{name}: GOVDATA_WAREHOUSE_URI is not set")
            config["sqlalchemy_uri"] = warehouse_uri
            text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
        contents[name] = text
        configs[name] = config
    check_references(configs)
    return contents


def check_references(configs: dict[str, Any]) -> None:
    """Catch what Superset's importer would silently skip or turn into a bare KeyError."""

    def uuids(folder: str) -> set[str]:
        return {str(c.get("uuid")) for n, c in configs.items() if n.startswith(folder)}

    databases, datasets, charts = uuids("databases/"), uuids("datasets/"), uuids("charts/")
    for name, config in configs.items():
        if name.startswith("datasets/") and str(config.get("database_uuid")) not in databases:
            raise AssetsError(f"{name}: database {config.get('database_uuid')} not in bundle")
        if name.startswith("charts/") and str(config.get("dataset_uuid")) not in datasets:
            raise AssetsError(f"{name}: dataset {config.get('dataset_uuid')} not in bundle")
        if name.startswith("dashboards/"):
            for key, item in (config.get("position") or {}).items():
                if isinstance(item, dict) and item.get("type") == "CHART":
                    uuid = str((item.get("meta") or {}).get("uuid"))
                    if uuid not in charts:
                        raise AssetsError(f"{name}: {key} shows chart {uuid}, not in bundle")


def describe(error: BaseException) -> str:
    """Superset's import errors hide their details in causes and marshmallow messages."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 5:
        text = f"{type(current).__name__}: {current}"
        messages = getattr(current, "normalized_messages", None)
        if callable(messages):
            # a message that cannot be shown must not hide the error
            with contextlib.suppress(Exception):
                text += f" {messages()}"
        parts.append(text)
        current = current.__cause__ or current.__context__
    return "; ".join(parts)


def ensure_admin(username: str, password: str) -> str | None:
    """Create the admin user when missing; an existing one is left as it is (its password may
    have been changed in the UI). Returns a warning when it is no longer an admin."""
    from superset import security_manager

    role = security_manager.find_role("Admin")
    if role is None:
        raise AssetsError("role Admin is missing: run `superset init` first")
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(
            username, "Admin", "GovData", f"{username}@govdata.invalid", role, password=password
        )
        if not user:
            raise AssetsError(f"could not create the admin user {username!r}")
        print(f"created admin user {username!r}")
    elif role not in user.roles:
        return (
            f"user {username!r} no longer has the role Admin (changed in Superset): left as it is"
        )
    return None


def reset_admin_password(username: str, password: str) -> None:
    """Set the admin's password (asked for explicitly: a deployment never does it)."""
    from superset import security_manager

    user = security_manager.find_user(username=username)
    if user is None:
        raise AssetsError(f"user {username!r} does not exist (use --ensure-admin)")
    security_manager.reset_password(user.id, password)
    print(f"reset the password of {username!r} from GOVDATA_SUPERSET_ADMIN_PASSWORD")


def scope_native_filters(metadata: dict[str, Any], position: dict[str, Any]) -> None:
    """Set each native filter's chartsInScope from its scope, with the imported chart ids.

    The importer maps the ids of `scope.excluded` but leaves `chartsInScope` alone, and the
    front end applies a filter to the charts of that list only (none when it is missing).
    """
    charts = {
        item["meta"]["chartId"]: item
        for item in position.values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    for native_filter in metadata.get("native_filter_configuration") or []:
        scope = native_filter.get("scope") or {}
        roots = set(scope.get("rootPath") or ["ROOT_ID"])
        excluded = set(scope.get("excluded") or [])
        native_filter["chartsInScope"] = sorted(
            chart_id
            for chart_id, item in charts.items()
            if chart_id not in excluded and roots & {item["id"], *item.get("parents", [])}
        )


def import_bundle(contents: dict[str, str]) -> None:
    """Import (overwrite) every asset of the bundle as g.user; check what came in."""
    from superset import db
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.models.dashboard import Dashboard

    try:
        ImportAssetsCommand(contents).run()
    except Exception as error:
        raise AssetsError(f"import rejected: {describe(error)}") from error

    for name, text in contents.items():
        if not name.startswith("dashboards/"):
            continue
        config = yaml.safe_load(text)
        dashboard = db.session.query(Dashboard).filter_by(uuid=config["uuid"]).one_or_none()
        if dashboard is None:
            raise AssetsError(f"{name}: dashboard missing after import")
        expected = sum(
            1
            for item in config.get("position", {}).values()
            if isinstance(item, dict) and item.get("type") == "CHART"
        )
        if len(dashboard.slices) != expected:
            raise AssetsError(
                f"{name}: {len(dashboard.slices)} charts attached, {expected} expected"
            )
        metadata = json.loads(dashboard.json_metadata or "{}")
        scope_native_filters(metadata, json.loads(dashboard.position_json or "{}"))
        dashboard.json_metadata = json.dumps(metadata)
        db.session.commit()
        print(f"imported dashboard {dashboard.dashboard_title!r} ({expected} charts)")


# --- what the UI changed since the last import ----------------------------------------------

#: The record of the last import in Superset's key-value store (state.py).
RECORD = "assets-import"
#: Folder of the bundle: kind of asset.
KINDS = {"databases/": "database", "datasets/": "dataset", "charts/": "chart",
         "dashboards/": "dashboard"}  # fmt: skip


@dataclass(frozen=True)
class Asset:
    """An asset of the bundle as it is in Superset now."""

    kind: str
    uuid: str
    id: int
    title: str
    changed_on: str
    changed_by: str | None

    def __str__(self) -> str:
        by = f" by {self.changed_by}" if self.changed_by else ""
        return f"{self.kind} {self.title!r} (changed {self.changed_on[:19]}{by})"


@dataclass
class Report:
    """What a run did, for govdata.services.superset (written as JSON with --report)."""

    imported: bool = False
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    backup: str | None = None


def _models() -> dict[str, tuple[Any, str, Any]]:
    """Per kind: the model, its title's attribute, the command exporting it."""
    from superset.commands.chart.export import ExportChartsCommand
    from superset.commands.dashboard.export import ExportDashboardsCommand
    from superset.commands.database.export import ExportDatabasesCommand
    from superset.commands.dataset.export import ExportDatasetsCommand
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard
    from superset.models.slice import Slice

    return {
        "database": (Database, "database_name", ExportDatabasesCommand),
        "dataset": (SqlaTable, "table_name", ExportDatasetsCommand),
        "chart": (Slice, "slice_name", ExportChartsCommand),
        "dashboard": (Dashboard, "dashboard_title", ExportDashboardsCommand),
    }


def fingerprint(contents: dict[str, str]) -> str:
    """The bundle as it would be imported (warehouse URI included), and this importer."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in sorted(contents):
        digest.update(f"\0{name}\0{contents[name]}".encode())
    return digest.hexdigest()


def bundle_uuids(contents: dict[str, str]) -> dict[str, str]:
    """Every asset of the bundle: uuid to kind."""
    uuids = {}
    for name, text in contents.items():
        for folder, kind in KINDS.items():
            if name.startswith(folder):
                uuids[str(yaml.safe_load(text)["uuid"])] = kind
    return uuids


def present_assets(uuids: dict[str, str]) -> dict[str, Asset]:
    """The assets of the bundle Superset has now, by uuid."""
    from superset import db

    present = {}
    for kind, (model, title, _) in _models().items():
        wanted = [UUID(u) for u, k in uuids.items() if k == kind]
        for row in db.session.query(model).filter(model.uuid.in_(wanted)).all():
            present[str(row.uuid)] = Asset(
                kind=kind,
                uuid=str(row.uuid),
                id=row.id,
                title=str(getattr(row, title)),
                changed_on=str(row.changed_on),
                changed_by=row.changed_by.username if row.changed_by else None,
            )
    return present


def export_assets(assets: list[Asset], folder: Path) -> dict[str, Path]:
    """Export the assets as Superset's UI does (one zip per kind, with what each needs to be
    imported again from the UI's list); returns the zip of each kind."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # a database's export names its host and user
    zips = {}
    for kind, (_, _, command) in _models().items():
        ids = [asset.id for asset in assets if asset.kind == kind]
        if not ids:
            continue
        path = folder / f"{kind}s.zip"
        with ZipFile(path, "w") as bundle:
            for name, content in command(ids, export_related=True).run():
                text = content() if callable(content) else content
                bundle.writestr(f"{kind}_export_{folder.name}/{name}", text)
        zips[kind] = path
    return zips


def sync_bundle(contents: dict[str, str], reimport: bool, backups: Path, report: Report) -> None:
    """Import the bundle when it changed since the last import (or with ``reimport``), first
    saving every asset of it changed in Superset since then; else leave Superset as it is."""
    record = state.load(RECORD) or {}
    recorded: dict[str, dict[str, str]] = record.get("assets") or {}
    uuids = bundle_uuids(contents)
    present = present_assets(uuids)
    edited = [
        asset
        for uuid, asset in present.items()
        if uuid in recorded and recorded[uuid]["changed_on"] != asset.changed_on
    ]
    deleted = [recorded[uuid] for uuid in uuids if uuid in recorded and uuid not in present]
    if record.get("fingerprint") == fingerprint(contents) and not reimport:
        report.notes.append(
            f"the bundle is as imported on {record['imported_at'][:19]}: not imported again"
        )
        report.notes += [f"kept {asset}, as changed in Superset" for asset in edited]
        report.warnings += [
            f"{gone['kind']} {gone['title']!r} of the bundle was deleted in Superset: not"
            " created again while the bundle is unchanged (`govdata dashboards --reimport`"
            " imports the whole bundle)"
            for gone in deleted
        ]
        return

    unrecorded = [asset for uuid, asset in present.items() if uuid not in recorded]
    at_risk = edited + unrecorded
    if at_risk:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        zips = export_assets(at_risk, backups / f"superset-{stamp}")
        report.backup = str(backups / f"superset-{stamp}")
        report.warnings += [
            f"{asset} was changed in Superset since the last import: the new bundle overwrites"
            f" it; the changed version is saved in {zips[asset.kind]} (import it from the"
            f" {asset.kind}s list to bring it back)"
            for asset in edited
        ]
        if unrecorded and not recorded:
            report.warnings.append(
                f"no earlier import is recorded in this metadata database: the"
                f" {len(unrecorded)} assets of the bundle already there are saved in"
                f" {report.backup} before being overwritten"
            )
        else:
            report.warnings += [
                f"{asset} was not imported by the deployment: overwritten, saved in"
                f" {zips[asset.kind]}"
                for asset in unrecorded
            ]
    import_bundle(contents)
    report.imported = True
    report.warnings += [
        f"created again {gone['kind']} {gone['title']!r}, deleted in Superset since the last import"
        for gone in deleted
    ]


def record_import(contents: dict[str, str]) -> None:
    """Remember the bundle imported and each asset's state right after the import."""
    assets = present_assets(bundle_uuids(contents))
    state.save(
        RECORD,
        {
            "fingerprint": fingerprint(contents),
            "imported_at": datetime.now(UTC).isoformat(),
            "assets": {
                uuid: {"kind": a.kind, "title": a.title, "changed_on": a.changed_on}
                for uuid, a in assets.items()
            },
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assets", type=Path, help="the assets bundle directory")
    parser.add_argument("--user", default="admin", help="user that owns the import")
    parser.add_argument("--ensure-admin", action="store_true", help="create the user when missing")
    parser.add_argument(
        "--reset-admin-password",
        action="store_true",
        help="set the user's password from GOVDATA_SUPERSET_ADMIN_PASSWORD",
    )
    parser.add_argument(
        "--reimport", action="store_true", help="import the bundle even if it is unchanged"
    )
    parser.add_argument(
        "--access", type=Path, help="JSON of who sees what (roles, communes, demo users)"
    )
    parser.add_argument(
        "--backups", type=Path, help="where assets changed in Superset are saved (DATA_DIR)"
    )
    parser.add_argument("--report", type=Path, help="write what was done here, as JSON")
    args = parser.parse_args(argv)

    report = Report()
    try:
        contents = read_bundle(args.assets, os.environ.get("GOVDATA_WAREHOUSE_URI"))
        from flask import g
        from superset import security_manager
        from superset.app import create_app

        app = create_app()
        with app.app_context():
            password = os.environ.get("GOVDATA_SUPERSET_ADMIN_PASSWORD")
            if (args.ensure_admin or args.reset_admin_password) and not password:
                raise AssetsError("GOVDATA_SUPERSET_ADMIN_PASSWORD is not set")
            if args.ensure_admin and (warning := ensure_admin(args.user, str(password))):
                report.warnings.append(warning)
            if args.reset_admin_password:
                reset_admin_password(args.user, str(password))
            g.user = security_manager.find_user(username=args.user)
            if g.user is None:
                raise AssetsError(f"user {args.user!r} does not exist (use --ensure-admin)")
            backups = args.backups or Path(app.config["DATA_DIR"]) / "backups"
            sync_bundle(contents, args.reimport, backups, report)
            if args.access:
                import access

                spec = json.loads(args.access.read_text(encoding="utf-8"))
                demo_password = os.environ.get("GOVDATA_SUPERSET_DEMO_PASSWORD")
                notes, changes = access.apply(spec, demo_password)
                report.notes += notes
                report.warnings += changes
            if report.imported:
                record_import(contents)
    except AssetsError as error:
        print(f"superset assets import failed: {error}", file=sys.stderr)
        return 1
    for note in report.notes:
        print(note)
    for warning in report.warnings:
        print(f"warning: {warning}")
    if args.report:
        args.report.write_text(json.dumps(asdict(report), ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
