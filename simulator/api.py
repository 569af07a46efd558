"""The procedure system's sync API, served locally over HTTP.

``GET /api/dossiers?updated_since=yyyyMMddHHmmss&cursor=C&limit=N`` pages through dossiers in
update order (``NgayCapNhat``, then ``MaHoSo``); ``updated_since`` is inclusive, so a client
that resumes from its watermark never misses a record updated in the same second.
``GET /api/procedures`` returns the catalogue, ``GET /health`` answers ``ok``.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

MAX_PAGE_SIZE = 10_000


class DossierStore:
    """The dossiers of a simulated export, sorted for keyset pagination."""

    def __init__(self, directory: Path) -> None:
        procedures = directory / "procedures"
        self.catalogue_json = (procedures / "catalogue.json").read_bytes()
        lines = (procedures / "dossiers.jsonl").read_bytes().splitlines()
        keyed = []
        for line in lines:
            record = json.loads(line)
            keyed.append(((str(record["NgayCapNhat"]), str(record["MaHoSo"])), line))
        keyed.sort(key=lambda item: item[0])
        self.keys = [key for key, _ in keyed]
        self.lines = [line for _, line in keyed]

    def page(
        self, updated_since: str, cursor: str | None, limit: int
    ) -> tuple[list[bytes], str | None]:
        if cursor:
            stamp, _, code = cursor.partition("|")
            start = bisect_left(self.keys, (stamp, code)) + 1
        else:
            start = bisect_left(self.keys, (updated_since, ""))
        chunk = self.lines[start : start + limit]
        end = start + len(chunk)
        next_cursor = "|".join(self.keys[end - 1]) if chunk and end < len(self.keys) else None
        return chunk, next_cursor


def _handler(store: DossierStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if url.path == "/health":
                self._send(HTTPStatus.OK, b'{"status":"ok"}')
            elif url.path == "/api/procedures":
                self._send(HTTPStatus.OK, store.catalogue_json)
            elif url.path == "/api/dossiers":
                self._dossiers(params)
            else:
                self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}')

        def _dossiers(self, params: dict[str, str]) -> None:
            since = params.get("updated_since", "")
            if since and not (len(since) == 14 and since.isdigit()):
                self._send(HTTPStatus.BAD_REQUEST, b'{"error":"updated_since: yyyyMMddHHmmss"}')
                return
            try:
                limit = min(int(params.get("limit", "1000")), MAX_PAGE_SIZE)
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, b'{"error":"limit must be an integer"}')
                return
            lines, next_cursor = store.page(since, params.get("cursor"), max(limit, 1))
            body = b'{"data":[' + b",".join(lines) + b'],"next_cursor":'
            body += json.dumps(next_cursor).encode() + b"}"
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


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), _handler(DossierStore(directory)))


@contextmanager
def serving(directory: Path, host: str = "127.0.0.1", port: int = 8765) -> Iterator[str]:
    """Serve ``directory`` in a background thread; yields the base URL."""
    server = make_server(directory, host, port)
    thread = threading.Thread(target=server.serve_forever, name="procedures-api", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
