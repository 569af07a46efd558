"""The procedure system's sync API, served locally over HTTP.

- ``GET /api/dossiers?updated_since=yyyyMMddHHmmss&cursor=C&limit=N`` pages through the pushed
  dossier versions in update order (``NgayCapNhat``); ``/api/events`` likewise through the
  progress events (``ThoiDiemXuLy``). ``updated_since`` is inclusive, so a client resuming
  from its watermark never misses a record updated in the same second; ``cursor`` is opaque.
- ``GET /api/procedures`` returns the catalogue, ``GET /api/agencies`` the agency directory,
  ``GET /health`` answers ``ok``.

The server has a clock: it serves what the source system knew at ``as_of`` (a server setting,
or a query parameter for tests), so a dossier whose status changes later comes back with a
newer update time on a later poll. The export files are indexed by byte offset, not loaded,
so a province-year is served in a few hundred MB. A record the source system stored in a
wrong text encoding is passed on as a JSON string rather than an object, as it cannot be
embedded as JSON: the client rejects it like any malformed record.
"""

from __future__ import annotations

import csv
import json
import mmap
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

MAX_PAGE_SIZE = 10_000
NEVER = 99_999_999_999_999


class JsonLinesIndex:
    """Offsets of a JSON-lines export sorted by a ``yyyyMMddHHmmss`` field, for keyset paging.

    Lines whose timestamp cannot be read sort first (time 0): a full read still returns them.
    """

    def __init__(self, path: Path, stamp_field: str) -> None:
        pattern = re.compile(rb'"' + stamp_field.encode() + rb'":"(\d{14})"')
        self.path = path
        offsets, lengths, stamps = [], [], []
        position = 0
        with path.open("rb") as handle:
            for line in handle:
                match = pattern.search(line)
                offsets.append(position)
                lengths.append(len(line.rstrip(b"\n")))
                stamps.append(int(match.group(1)) if match else 0)
                position += len(line)
        order = np.lexsort((np.arange(len(stamps)), np.asarray(stamps, dtype=np.int64)))
        self.stamps = np.asarray(stamps, dtype=np.int64)[order]
        self.offsets = np.asarray(offsets, dtype=np.int64)[order]
        self.lengths = np.asarray(lengths, dtype=np.int32)[order]
        self._file = path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if position else None

    def __len__(self) -> int:
        return len(self.stamps)

    def page(
        self, since: int, as_of: int, cursor: int | None, limit: int
    ) -> tuple[list[bytes], int | None]:
        start = cursor if cursor is not None else int(np.searchsorted(self.stamps, since, "left"))
        stop = int(np.searchsorted(self.stamps, as_of, "right"))
        end = min(start + limit, stop)
        if self._map is None or start >= end:
            return [], None
        lines = [
            _embeddable(self._map[offset : offset + length])
            for offset, length in zip(self.offsets[start:end], self.lengths[start:end], strict=True)
        ]
        return lines, end if end < stop else None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        self._file.close()


def _embeddable(line: bytes) -> bytes:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps(line.decode("latin-1")).encode()
    return line


class ProcedureExports:
    """The simulated procedure system's export directory, indexed for the API."""

    def __init__(self, directory: Path) -> None:
        procedures = directory / "procedures"
        self.catalogue_json = (procedures / "catalogue.json").read_bytes()
        self.dossiers = JsonLinesIndex(procedures / "dossiers.jsonl", "NgayCapNhat")
        events = procedures / "events.jsonl"
        self.events = JsonLinesIndex(events, "ThoiDiemXuLy") if events.exists() else None
        agencies = directory / "reference" / "agencies.csv"
        rows = list(csv.DictReader(agencies.open(encoding="utf-8"))) if agencies.exists() else []
        self.agencies_json = json.dumps(rows, ensure_ascii=False).encode()

    def close(self) -> None:
        self.dossiers.close()
        if self.events:
            self.events.close()


def _stamp(value: str | None, default: int) -> int | None:
    if not value:
        return default
    return int(value) if len(value) == 14 and value.isdigit() else None


def _handler(exports: ProcedureExports, as_of: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/health":
                self._send(HTTPStatus.OK, b'{"status":"ok"}')
            elif url.path == "/api/procedures":
                self._send(HTTPStatus.OK, exports.catalogue_json)
            elif url.path == "/api/agencies":
                self._send(HTTPStatus.OK, exports.agencies_json)
            elif url.path == "/api/dossiers":
                self._page(exports.dossiers, params)
            elif url.path == "/api/events" and exports.events is not None:
                self._page(exports.events, params)
            else:
                self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}')

        def _page(self, index: JsonLinesIndex, params: dict[str, str]) -> None:
            since = _stamp(params.get("updated_since"), 0)
            until = _stamp(params.get("as_of"), as_of)
            if since is None or until is None:
                self._send(HTTPStatus.BAD_REQUEST,
                           b'{"error":"updated_since and as_of: yyyyMMddHHmmss"}')  # fmt: skip
                return
            try:
                limit = min(int(params.get("limit", "1000")), MAX_PAGE_SIZE)
                cursor = int(params["cursor"]) if params.get("cursor") else None
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, b'{"error":"limit and cursor are integers"}')
                return
            lines, next_cursor = index.page(since, until, cursor, max(limit, 1))
            body = b'{"data":[' + b",".join(lines) + b'],"next_cursor":'
            body += (json.dumps(str(next_cursor)) if next_cursor else "null").encode() + b"}"
            self._send(HTTPStatus.OK, body)

        def _send(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet by default
            return

    return Handler


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 8765,
                as_of: str | None = None) -> ThreadingHTTPServer:  # fmt: skip
    clock = _stamp(as_of, NEVER)
    if clock is None:
        raise ValueError("as_of: yyyyMMddHHmmss")
    return ThreadingHTTPServer((host, port), _handler(ProcedureExports(directory), clock))


@contextmanager
def serving(directory: Path, host: str = "127.0.0.1", port: int = 8765,
            as_of: str | None = None) -> Iterator[str]:  # fmt: skip
    """Serve ``directory`` in a background thread; yields the base URL."""
    server = make_server(directory, host, port, as_of)
    thread = threading.Thread(target=server.serve_forever, name="procedures-api", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
