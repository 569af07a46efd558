"""Client of the system's sync API: pages of a feed from a watermark, the reference lists,
with retries and backoff for transient failures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import SourceError
from ingestion.procedures.contracts import AGENCIES_SOURCE, CATALOGUE_SOURCE, SOURCE, CodeLists

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(slots=True)
class Page:
    records: list[object]
    next_cursor: str | None


class ProceduresApi:
    """Client of the sync API with retries and backoff for transient failures."""

    def __init__(
        self, base_url: str, timeout: float, attempts: int = 5, backoff_seconds: float = 0.5
    ) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=timeout)
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    def pages(
        self, updated_since: str | None, page_size: int, path: str = "/api/dossiers"
    ) -> Iterator[Page]:
        cursor: str | None = None
        while True:
            params = {"limit": str(page_size)}
            if updated_since:
                params["updated_since"] = updated_since
            if cursor:
                params["cursor"] = cursor
            body = self._get(path, params)
            page = Page(records=body["data"], next_cursor=body.get("next_cursor"))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def code_lists(self) -> CodeLists:
        return CodeLists(
            procedures=frozenset(str(p["MaTTHC"]) for p in self.catalogue() if isinstance(p, dict)),
            agencies=frozenset(
                str(a["MaDinhDanh"]) for a in self.agencies() if isinstance(a, dict)
            ),
        )

    def agencies(self) -> list[object]:
        return self._list("/api/agencies", AGENCIES_SOURCE)

    def catalogue(self) -> list[object]:
        return self._list("/api/procedures", CATALOGUE_SOURCE)

    def _list(self, path: str, source: str) -> list[object]:
        body = self._get(path, {})
        if not isinstance(body, list):
            raise SourceError(f"{source}: GET {path} did not return a list")
        return body

    def _get(self, path: str, params: dict[str, str]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in TRANSIENT_STATUS:
                    if response.status_code != 200:
                        raise SourceError(
                            f"{SOURCE}: GET {path} answered {response.status_code}: "
                            f"{response.text[:200]}"
                        )
                    try:
                        return response.json()
                    except json.JSONDecodeError as error:
                        raise SourceError(
                            f"{SOURCE}: GET {path} returned invalid JSON: {error}"
                        ) from error
                problem = f"HTTP {response.status_code}"
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SourceError(f"{SOURCE}: GET {path} failed {self.attempts} times, last: {problem}")

    def close(self) -> None:
        self.client.close()
