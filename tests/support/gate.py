"""An HTTP proxy in front of the test registry that can hold back one blob's download, or
break it off halfway.

A test that must act while a worker is in the middle of a scan cannot count on the scan being
slow (a 64 MiB layer once took long enough; it no longer does). The test holds the layer
instead: the worker's fetch of it waits at the gate until the test lets it through, so "the
scan is running" is a fact, not a race. The gate also counts what passed it, as it passes,
so a test can say "no blob was downloaded" without waiting for a log to be written. A cut
blob is announced whole (its Content-Length) and the connection dropped after half of it: a
network failure mid-download, which no registry can be asked to produce.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_LONGEST_HOLD = 120.0  # a forgotten gate must not hang the suite


class BlobGate:
    """Forwards GET and HEAD to ``upstream``; a held blob waits until released."""

    requests: list[tuple[str, str]]  # (method, path) of each request, in arrival order

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._held: set[str] = set()
        self._cut: set[str] = set()
        self._open = threading.Condition()
        self._asked: dict[str, threading.Event] = {}
        self.requests = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BlobGate:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._open:
            self._held.clear()
            self._open.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def count(self, method: str, kind: str) -> int:
        """How many ``method`` requests for ``kind`` (``blobs``, ``manifests``) arrived."""
        return sum(1 for m, path in list(self.requests) if m == method and f"/{kind}/" in path)

    @contextlib.contextmanager
    def holding(self, digest: str) -> Iterator[threading.Event]:
        """Hold downloads of ``digest`` inside the block; the event is set once one waits."""
        asked = threading.Event()
        with self._open:
            self._held.add(digest)
            self._asked[digest] = asked
        try:
            yield asked
        finally:
            with self._open:
                self._held.discard(digest)
                self._asked.pop(digest, None)
                self._open.notify_all()

    @contextlib.contextmanager
    def cutting(self, *digests: str) -> Iterator[None]:
        """Break off every download of ``digests`` halfway inside the block."""
        self._cut.update(digests)
        try:
            yield
        finally:
            self._cut.difference_update(digests)

    def _wait_if_held(self, path: str) -> None:
        digest = _blob_digest(path)
        with self._open:
            if digest not in self._held:
                return
            self._asked[digest].set()
            self._open.wait_for(lambda: digest not in self._held, timeout=_LONGEST_HOLD)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                gate.requests.append((self.command, self.path))
                gate._wait_if_held(self.path)
                upstream = http.client.HTTPConnection(*gate._upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    upstream.request(self.command, self.path, headers=headers)
                    answer = upstream.getresponse()
                    if self.command == "GET" and _blob_digest(self.path) in gate._cut:
                        self._cut_short(answer)
                        return
                    body = None if answer.getheader("Content-Length") else answer.read()
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP and not (
                            body is not None and key.lower() == "content-length"
                        ):
                            self.send_header(key, value)
                    if body is not None:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if body is not None:
                        self.wfile.write(body)
                    else:
                        while chunk := answer.read(1 << 20):
                            self.wfile.write(chunk)
                except OSError:  # the client went away (a killed worker): nothing to answer
                    self.close_connection = True
                finally:
                    upstream.close()

            def _cut_short(self, answer: http.client.HTTPResponse) -> None:
                body = answer.read()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in (*_HOP_BY_HOP, "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True

        return Forward


def _blob_digest(path: str) -> str:
    """The digest a blob request names ("" for any other request)."""
    return path.rsplit("/", 1)[-1] if "/blobs/" in path else ""
