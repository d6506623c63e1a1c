"""A loopback HTTP endpoint that serves the NDJSON files of one ``$import``, and nothing else.

``$import`` (HAPI's BULK_IMPORT_PULL job, the Bulk Import "ping and pull" proposal) does not
take the data in the request: the server fetches every input URL itself. ``push --bulk``
therefore serves the folder's files while the job runs::

    with FileServer({"Patient.ndjson": path, ...}) as files:
        url = files.url("Patient.ndjson")      # http://127.0.0.1:<port>/<token>/Patient.ndjson

* bound to 127.0.0.1 on an ephemeral port, only for the duration of the ``with`` block;
* only the named files, under a random path prefix (``secrets.token_urlsafe``): another local
  process cannot guess the URLs, and nothing outside the folder can be asked for;
* GET and HEAD only; ``Content-Type: application/fhir+ndjson``, ``Content-Length``, streamed
  from disk in 64 KiB blocks;
* no access log (the paths name resource types only, but a log is not needed); what was
  served is counted in :attr:`FileServer.served` for the report.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import quote, unquote, urlsplit

from fhir_ivc._types import ExcInfo
from fhir_ivc.bulk.ndjson import NDJSON_TYPE

__all__ = ["FileServer"]

_BLOCK: Final = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _target(self) -> Path | None:
        parts = unquote(urlsplit(self.path).path).split("/")
        if len(parts) != 3 or parts[0] or parts[1] != self.server.token:
            return None
        return self.server.files.get(parts[2])

    def _answer(self, *, body: bool) -> None:
        path = self._target()
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        try:
            file = path.open("rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        with file:
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", NDJSON_TYPE)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                shutil.copyfileobj(file, self.wfile, _BLOCK)
                self.server.count(path.name, size)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: Mapping[str, Path], token: str) -> None:
        self.files = dict(files)
        self.token = token
        self.served: dict[str, int] = {}
        self.bytes_served = 0
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def count(self, name: str, size: int) -> None:
        with self._lock:
            self.served[name] = self.served.get(name, 0) + 1
            self.bytes_served += size


class FileServer:
    """Serves ``files`` (``{name: path}``) on 127.0.0.1 for the duration of a ``with`` block."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        for name in files:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"cannot serve a file named {name!r}")
        self._files = dict(files)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._server = _Server(self._files, secrets.token_urlsafe(24))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="fhir-ivc-bulk-files",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: *ExcInfo) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError("FileServer is used outside its 'with' block")
        return self._server

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>/<token>/``."""
        server = self._running()
        host, port = server.server_address[:2]
        return f"http://{host!s}:{port}/{server.token}/"

    def url(self, name: str) -> str:
        if name not in self._files:
            raise KeyError(name)
        return self.base + quote(name)

    @property
    def served(self) -> dict[str, int]:
        """How often each file was fetched completely (HAPI reads each input twice)."""
        return dict(self._running().served)
