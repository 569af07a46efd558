"""Import the platform's Superset assets, overwriting what exists; fail loudly on any error.

Runs inside .venv-superset with SUPERSET_CONFIG_PATH set (govdata.services.superset does it):

    python services/superset/import_assets.py superset_assets --user admin [--ensure-admin]

The bundle has the layout of Superset's "export all assets" (metadata.yaml of type assets,
databases/, datasets/, charts/, dashboards/). A database whose sqlalchemy_uri is the
placeholder below gets the warehouse URI from the GOVDATA_WAREHOUSE_URI environment variable
(an environment variable, not an argument, so a password never shows in the process list).
With --ensure-admin, the admin user is created, or its password reset, from
GOVDATA_SUPERSET_ADMIN_PASSWORD first.

Unlike `superset import-directory`, which logs errors and exits 0, any problem (invalid YAML,
unknown folder, chart or dataset missing from the bundle, rejected import) exits with status 1
and a message on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

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


def ensure_admin(username: str, password: str) -> Any:
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
    else:
        security_manager.reset_password(user.id, password)
        if role not in user.roles:
            user.roles.append(role)
            security_manager.update_user(user)
    return user


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


def import_bundle(contents: dict[str, str], username: str) -> None:
    from flask import g
    from superset import db, security_manager
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.models.dashboard import Dashboard

    user = security_manager.find_user(username=username)
    if user is None:
        raise AssetsError(f"user {username!r} does not exist (use --ensure-admin)")
    g.user = user
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assets", type=Path, help="the assets bundle directory")
    parser.add_argument("--user", default="admin", help="user that owns the import")
    parser.add_argument(
        "--ensure-admin", action="store_true", help="create the user or reset its password"
    )
    parser.add_argument(
        "--access", type=Path, help="JSON of who sees what (roles, communes, demo users)"
    )
    args = parser.parse_args(argv)

    try:
        contents = read_bundle(args.assets, os.environ.get("GOVDATA_WAREHOUSE_URI"))
        from superset.app import create_app

        app = create_app()
        with app.app_context():
            if args.ensure_admin:
                password = os.environ.get("GOVDATA_SUPERSET_ADMIN_PASSWORD")
                if not password:
                    raise AssetsError("GOVDATA_SUPERSET_ADMIN_PASSWORD is not set")
                ensure_admin(args.user, password)
            import_bundle(contents, args.user)
            if args.access:
                import access

                spec = json.loads(args.access.read_text(encoding="utf-8"))
                password = os.environ.get("GOVDATA_SUPERSET_DEMO_PASSWORD")
                for line in access.apply(spec, password):
                    print(line)
    except AssetsError as error:
        print(f"superset assets import failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
