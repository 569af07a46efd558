"""A few typed calls to a CKAN portal's action API, over HTTP with ``ckanapi.RemoteCKAN``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ckanapi

from core.errors import PublishError

USER_AGENT = "govdata-opendata-publisher/0.1 (+ckanapi)"
DATASTORE_BATCH = 5000


class PortalError(PublishError):
    """The portal refused or failed a call."""


class CkanClient:
    def __init__(self, url: str, api_token: str | None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.remote = ckanapi.RemoteCKAN(self.url, apikey=api_token, user_agent=USER_AGENT)
        self.timeout = timeout

    def call(
        self, action: str, data: dict[str, Any] | None = None, upload: Path | None = None
    ) -> Any:
        files = None
        handle = None
        try:
            if upload is not None:
                handle = upload.open("rb")
                files = {"upload": (upload.name, handle)}
            return self.remote.call_action(
                action, data or {}, files=files, requests_kwargs={"timeout": self.timeout}
            )
        except ckanapi.NotFound:
            raise
        except ckanapi.CKANAPIError as error:
            raise PortalError(f"{self.url}: {action} failed: {error}") from error
        except OSError as error:  # connection refused, timeout
            raise PortalError(f"{self.url}: {action}: cannot reach the portal: {error}") from error
        finally:
            if handle is not None:
                handle.close()

    # -- datasets -----------------------------------------------------------------------------

    def dataset(self, name_or_id: str) -> dict[str, Any] | None:
        try:
            return self.call("package_show", {"id": name_or_id})
        except ckanapi.NotFound:
            return None

    def create_dataset(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.call("package_create", data)

    def patch_dataset(self, dataset_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.call("package_patch", {**data, "id": dataset_id})

    def organization_exists(self, name: str) -> bool:
        try:
            self.call("organization_show", {"id": name})
        except ckanapi.NotFound:
            return False
        return True

    def search(self, **params: Any) -> dict[str, Any]:
        return self.call("package_search", params)

    # -- resources ----------------------------------------------------------------------------

    def create_resource(
        self, dataset_id: str, data: dict[str, Any], upload: Path | None
    ) -> dict[str, Any]:
        return self.call("resource_create", {**data, "package_id": dataset_id}, upload)

    def patch_resource(
        self, resource_id: str, data: dict[str, Any], upload: Path | None
    ) -> dict[str, Any]:
        return self.call("resource_patch", {**data, "id": resource_id}, upload)

    # -- DataStore ----------------------------------------------------------------------------

    def datastore_fields(self, resource_id: str) -> list[dict[str, Any]] | None:
        try:
            info = self.call("datastore_info", {"id": resource_id})
        except ckanapi.NotFound:
            return None
        return info.get("fields")

    def replace_datastore(
        self,
        resource_id: str,
        fields: list[dict[str, Any]],
        records: Iterable[dict[str, Any]],
        primary_key: list[str] | None = None,
    ) -> int:
        """Drop the resource's DataStore table, recreate it with ``fields`` (and their data
        dictionary ``info``) and load ``records``; return the number of rows loaded."""
        if self.datastore_fields(resource_id) is not None:
            self.call("datastore_delete", {"resource_id": resource_id, "force": True})
        create: dict[str, Any] = {
            "resource_id": resource_id,
            "force": True,
            "fields": fields,
            "records": [],
        }
        if primary_key:
            create["primary_key"] = primary_key
        self.call("datastore_create", create)
        loaded = 0
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= DATASTORE_BATCH:
                loaded += self._insert(resource_id, batch)
                batch = []
        if batch:
            loaded += self._insert(resource_id, batch)
        return loaded

    def _insert(self, resource_id: str, batch: list[dict[str, Any]]) -> int:
        self.call(
            "datastore_upsert",
            {"resource_id": resource_id, "force": True, "method": "insert", "records": batch},
        )
        return len(batch)
