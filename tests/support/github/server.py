"""A local GitHub for tests: a Flask app on 127.0.0.1 that checks itself against GitHub's spec.

Point PyGithub at `server.url` (`Github(base_url=server.url, ...)`). Every request is matched to
an operation of GitHub's OpenAPI description, its body validated against the operation's
`requestBody`, and every response the server sends validated against the documented responses.
Anything that does not fit is appended to `server.mismatches`; the `github_server` fixture fails
the test when that list is not empty, so neither the product nor this fake can drift from GitHub.

Tests also use the server directly: `create_repo`, `commit_as`, `merge_pull`... (see `GitHub`),
`fail_next` to inject rate limits and outages, and `requests` to assert on call sequences.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from http import HTTPStatus
from traceback import format_exc
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.github.model import App, Credential, GitError, GitHub, utcnow
from tests.support.github.openapi import Description, Match
from tests.support.github.payloads import Shapes, error, reset_time
from tests.support.github.routes import APP_OPERATIONS, HANDLERS, Call, Reply, error_reply

JSON = "application/json; charset=utf-8"


@cache
def description() -> Description:
    """Parsed once per test session: the file is 460 KB."""
    return Description.load()


@dataclass
class Logged:
    """One request as the server received it, for asserting on call sequences."""

    method: str
    path: str
    body: Any
    query: dict[str, str]


@dataclass
class Fault:
    method: str
    path_glob: str
    status: int
    headers: dict[str, str]
    body: Any
    times: int


@dataclass
class _Incoming:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str
    content_type: str | None
    problems: list[str] = field(default_factory=list)


class GitHubServer(GitHub):
    """The model of `GitHub` plus its HTTP face, validation, fault injection and a request log."""

    RATE_LIMIT = 5000

    def __init__(
        self, token_lifetime: timedelta = timedelta(hours=1), spec: Description | None = None
    ) -> None:
        super().__init__()
        self.spec = spec or description()
        self.token_lifetime = token_lifetime
        self.mismatches: list[str] = []
        self.requests: list[Logged] = []
        self.url = ""
        self.shapes = Shapes("")
        self._faults: list[Fault] = []
        self._used: dict[str, int] = {}
        self._http: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = Flask("fake-github")
        self.app.add_url_rule(
            "/<path:path>",
            "github",
            self._serve,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        """Serve on a free port of 127.0.0.1 from a daemon thread; `self.url` is the API root."""
        self._http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        self.shapes = Shapes(self.url)
        # A short poll interval: `shutdown()` waits for it, once per test.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_glob: str,
        status: int,
        headers: dict[str, str] | None = None,
        times: int = 1,
        body: Any = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` before any handler runs.

        `method` may be "*"; `path_glob` is an fnmatch pattern ("*" crosses slashes), e.g.
        `fail_next("POST", "/repos/*/pulls", 403, {"Retry-After": "30"})` for a secondary rate
        limit, or `fail_next("*", "*", 502)` for an outage.
        """
        message = HTTPStatus(status).phrase
        if status in (403, 429):
            message = "You have exceeded a secondary rate limit. Please wait before retrying."
        body = error(message) if body is None else body
        fault = Fault(method.upper(), path_glob, status, dict(headers or {}), body, times)
        with self.lock:
            self._faults.append(fault)

    def take_mismatches(self) -> list[str]:
        """The mismatches so far, cleared (for tests that provoke one on purpose)."""
        with self.lock:
            taken, self.mismatches[:] = list(self.mismatches), []
            return taken

    def remaining(self, token: str) -> int:
        return self.RATE_LIMIT - self._used.get(token, 0)

    def paginate(self, call: Call, items: list[Any]) -> Reply:
        """`per_page`/`page` slicing with a `Link` header, which PyGithub follows."""
        per_page = min(int(call.query.get("per_page", 30)), 100)
        page = int(call.query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, number in (("next", page + 1), ("last", last), ("first", 1), ("prev", page - 1)):
            if 1 <= number <= last and number != page:
                query = urlencode(call.query | {"page": str(number)})
                links.append(f'<{self.url}{call.path}?{query}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Reply(200, items[(page - 1) * per_page : page * per_page], headers)

    # --- HTTP --------------------------------------------------------------------------------

    def _serve(self, path: str) -> Response:
        """Log, route by the description, validate the request, inject faults, authenticate,
        then run the handler. A request off the spec is recorded and answered 422, as GitHub
        answers a body it cannot accept."""
        incoming = self._read("/" + path)
        with self.lock:
            self.requests.append(
                Logged(incoming.method, incoming.path, incoming.body, incoming.query)
            )
            matched = self.spec.match(incoming.method, incoming.path)
            if not isinstance(matched, Match):
                self.mismatches += matched
                return self._send(None, Reply(404, error("Not Found")))
            self.mismatches += incoming.problems
            if not incoming.problems:
                checks = self.spec.check_query(matched, incoming.query)
                checks += self.spec.check_request(matched, incoming.body, incoming.content_type)
                self.mismatches += checks
                incoming.problems = checks
            fault = self._take_fault(incoming)
            if fault is not None:
                return self._send(None, fault)
            call = self._authenticate(matched, incoming)
            if isinstance(call, Reply):
                return self._send(None, call)
            self._used[call.token] = self._used.get(call.token, 0) + 1
            if incoming.problems:
                reply = Reply(422, error("Invalid request.\n\n" + "\n".join(incoming.problems)))
                return self._send(matched, reply, call.token)
            try:
                reply = HANDLERS[matched.operation.operation_id](self, call)
            except GitError as exc:
                reply = error_reply(exc)
            except Exception:
                # A bug in the fake, not GitHub behaviour: make it fail the test, readably.
                self.mismatches.append(f"{matched.operation}: handler crashed\n{format_exc()}")
                return self._send(None, Reply(500, error("Server Error")), call.token)
            return self._send(matched, reply, call.token)

    def _read(self, path: str) -> _Incoming:
        raw = request.get_data()
        body, problems = None, []
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                problems.append(f"{request.method} {path}: request body is not JSON")
        return _Incoming(
            request.method,
            path,
            request.args.to_dict(),
            body,
            request.headers.get("Authorization", ""),
            request.content_type,
            problems,
        )

    def _take_fault(self, incoming: _Incoming) -> Reply | None:
        for fault in self._faults:
            if fault.method in ("*", incoming.method) and fnmatch.fnmatchcase(
                incoming.path, fault.path_glob
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return Reply(fault.status, fault.body, fault.headers)
        return None

    def _authenticate(self, matched: Match, incoming: _Incoming) -> Call | Reply:
        """`token X` / `Bearer X` with a known, unexpired token; a valid App JWT for app routes."""
        scheme, _, secret = incoming.authorization.partition(" ")
        call = Call(incoming.path, matched.params, incoming.query, incoming.body, token=secret)
        if scheme.lower() not in ("token", "bearer") or not secret:
            return Reply(401, error("Requires authentication"))
        if matched.operation.operation_id in APP_OPERATIONS:
            app = self._verify_jwt(secret)
            if isinstance(app, str):
                return Reply(401, error(app))
            call.app = app
            return call
        credential: Credential | None = self.tokens.get(secret)
        if credential is None or (
            credential.expires_at is not None and credential.expires_at <= utcnow()
        ):
            return Reply(401, error("Bad credentials"))
        call.credential = credential
        return call

    def _verify_jwt(self, token: str) -> App | str:
        """RS256, signed by a registered App's key, `iss` = its id, unexpired, at most 10 min.

        `iss` is compared as text: PyGithub sends the app id as an int, which PyJWT's own
        `issuer=` check rejects although GitHub accepts it.
        """
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            app = self.apps.get(int(str(claims.get("iss"))))
            if app is None:
                return "Integration not found"
            claims = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=0,
            )
        except (jwt.InvalidTokenError, ValueError) as exc:
            return f"A JSON web token could not be decoded: {exc}"
        if claims["exp"] - claims["iat"] > 600:
            return "'Expiration time' claim ('exp') is too far in the future"
        return app

    def _send(self, matched: Match | None, reply: Reply, token: str = "") -> Response:
        """Validate what goes out, then send it with GitHub's rate-limit headers.

        Answers that do not come from a handler (auth failures, injected faults, unknown
        paths) are GitHub's generic errors and are checked against `basic-error`.
        """
        if matched is None:
            self.mismatches += self.spec.check_error(reply.status, reply.body)
        else:
            self.mismatches += self.spec.check_response(
                matched, reply.status, reply.body, None if reply.body is None else JSON
            )
        remaining = self.remaining(token)
        headers = {
            "x-ratelimit-limit": str(self.RATE_LIMIT),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(self.RATE_LIMIT - remaining),
            "x-ratelimit-reset": str(reset_time()),
            "x-ratelimit-resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        } | reply.headers
        if reply.body is None:
            return Response(status=reply.status, headers=headers)
        return Response(json.dumps(reply.body), reply.status, headers, content_type=JSON)
