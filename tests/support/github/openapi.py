"""Check HTTP traffic against GitHub's own OpenAPI description (tests/fixtures/github).

The fake GitHub server is only worth something if it answers the way GitHub does, so every
request it receives and every response it sends goes through `Description`: the operation must
exist, the request body must match the operation's `requestBody` schema, the status must be one
the operation documents, and the JSON body must match that response's schema. Each check returns
a list of human-readable mismatch messages (empty when the traffic fits the description).

GitHub's description is OpenAPI 3.0.3, whose schema dialect is not JSON Schema: `nullable: true`
instead of a `"null"` type, `example`/`discriminator`/`readOnly`/`x-*` keywords that a JSON Schema
validator would ignore or misread, and `oneOf` lists whose alternatives overlap. `to_json_schema` rewrites a schema into JSON Schema 2020-12 so
that `jsonschema` validates it, keeping the `$ref`s and resolving them through a `referencing`
registry that holds the converted `components`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DESCRIPTION = Path(__file__).parents[2] / "fixtures" / "github" / "openapi-subset.json"
ROOT_URI = "urn:github-openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Direction = Literal["request", "response"]

# Annotation-only OpenAPI keywords; JSON Schema has no use for them or reads them differently.
_DROPPED = {"example", "examples", "discriminator", "xml", "externalDocs", "deprecated"}
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = ("items", "not", "additionalProperties", "contains")

# RFC 3339, which is what GitHub sends and what PyGithub parses; `fromisoformat` alone would also
# accept a bare date or a time without a zone.
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """Only `date-time` is enforced: the client parses it. `uri`, `int64`... are annotations."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value)
    return True


def to_json_schema(schema: Any, direction: Direction) -> Any:
    """Rewrite one OpenAPI 3.0 schema (recursively) as JSON Schema 2020-12.

    `readOnly` properties are not required in requests and `writeOnly` ones are not required in
    responses (OpenAPI 3.0.3, Schema Object), so the `required` list depends on `direction`.
    """
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        # OpenAPI 3.0 ignores every sibling of a $ref.
        return {"$ref": ROOT_URI + schema["$ref"]}
    out: dict[str, Any] = {}
    skipped = "readOnly" if direction == "request" else "writeOnly"
    hidden = {
        name
        for name, sub in schema.get("properties", {}).items()
        if isinstance(sub, dict) and sub.get(skipped)
    }
    for key, value in schema.items():
        if key in _DROPPED or key.startswith("x-") or key in {"nullable", "readOnly", "writeOnly"}:
            continue
        if key in _SCHEMA_MAPS:
            out[key] = {name: to_json_schema(sub, direction) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            # GitHub writes `oneOf` for alternatives that overlap (every `basic-error` is also a
            # `repository-rule-violation-error`; `[]` fits both array forms of add-labels), so
            # read strictly no body could fit. It means "one of these shapes": `anyOf`.
            out["anyOf" if key == "oneOf" else key] = [
                to_json_schema(sub, direction) for sub in value
            ]
        elif key in _SCHEMA_VALUES:
            out[key] = to_json_schema(value, direction)
        elif key == "required":
            out[key] = [name for name in value if name not in hidden]
        else:
            out[key] = value
    if schema.get("nullable"):
        out = _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`nullable: true` adds null to the allowed values (and to an `enum`, which lists them)."""
    if isinstance(schema.get("type"), str):
        schema = {**schema, "type": [schema["type"], "null"]}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


@dataclass(frozen=True)
class Operation:
    """One method + path template of the description, and how to recognise a concrete path."""

    method: str
    template: str
    operation_id: str
    spec: dict[str, Any] = field(repr=False)
    parameters: tuple[dict[str, Any], ...] = field(repr=False)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """`{param}` matches one segment, or several when the parameter is `x-multi-segment`.

        `x-multi-segment` is how GitHub says a ref (`heads/feature/x`), a file path or a branch
        may contain slashes.
        """
        multi = {p["name"] for p in self.parameters if p.get("x-multi-segment")}
        regex = ""
        for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", self.template):
            regex += re.escape(literal)
            if name:
                regex += f"(?P<{name}>{'.+' if name in multi else '[^/]+'})"
        return re.compile(regex)

    @property
    def literal_length(self) -> int:
        """How much of the template is fixed text: the more specific template wins a tie."""
        return len(re.sub(r"\{[^}]+\}", "", self.template))

    def parameter(self, name: str, where: str) -> dict[str, Any] | None:
        return next((p for p in self.parameters if p["name"] == name and p["in"] == where), None)

    def __str__(self) -> str:
        return f"{self.method} {self.template} ({self.operation_id})"


@dataclass
class Match:
    """A concrete request path matched to its operation, with typed path parameters."""

    operation: Operation
    params: dict[str, Any]


class Description:
    """GitHub's OpenAPI description, ready to match paths and validate traffic."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations = [
            Operation(
                method.upper(),
                template,
                spec["operationId"],
                spec,
                tuple(
                    self.deref(p)
                    for p in [*item.get("parameters", []), *spec.get("parameters", [])]
                ),
            )
            for template, item in document["paths"].items()
            for method, spec in item.items()
            if method in METHODS
        ]
        self._registries = {
            direction: Registry().with_resource(
                ROOT_URI,
                Resource(
                    {
                        "components": {
                            "schemas": {
                                name: to_json_schema(schema, direction)
                                for name, schema in document["components"]["schemas"].items()
                            }
                        }
                    },
                    specification=DRAFT202012,
                ),
            )
            for direction in ("request", "response")
        }

    @classmethod
    def load(cls, path: Path = DESCRIPTION) -> Description:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def deref(self, node: Any) -> Any:
        """Follow a `$ref` outside schemas (parameters, responses, request bodies)."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def match(self, method: str, path: str) -> Match | Iterable[str]:
        """The operation for `method path`, or mismatch messages when there is none.

        Path parameters are converted to their schema type, so `pulls/abc` does not match
        `pulls/{pull_number}` (an integer) as GitHub's router would not either.
        """
        found: list[Match] = []
        problems: list[str] = []
        for operation in self.operations:
            hit = operation.pattern.fullmatch(path)
            if operation.method != method or not hit:
                continue
            params, wrong = _typed_params(operation, hit.groupdict())
            if wrong:
                problems += [f"{method} {path}: {operation} {problem}" for problem in wrong]
            else:
                found.append(Match(operation, params))
        if found:
            return max(found, key=lambda m: m.operation.literal_length)
        if problems:
            return problems
        other = [op for op in self.operations if op.pattern.fullmatch(path)]
        if other:
            allowed = ", ".join(sorted({op.method for op in other}))
            return [f"{method} {path}: the description has this path only for {allowed}"]
        return [f"{method} {path}: no operation in the description has this path"]

    def check_query(self, match: Match, query: dict[str, str]) -> list[str]:
        """Declared query parameters must fit their schemas (e.g. `state` in open/closed/all)."""
        problems = []
        for name, raw in query.items():
            parameter = match.operation.parameter(name, "query")
            if parameter is None:
                continue
            schema = parameter.get("schema", {})
            value = _coerce(raw, schema.get("type"))
            where = f"{match.operation} query parameter {name!r}"
            problems += self._validate(value, schema, "request", where)
        return problems

    def check_request(self, match: Match, body: Any, content_type: str | None) -> list[str]:
        """The JSON body must fit the operation's `requestBody` (`body` is None when empty)."""
        spec = self.deref(match.operation.spec.get("requestBody"))
        where = f"{match.operation} request body"
        if spec is None:
            return [] if body is None else [f"{where}: the operation takes no body"]
        if body is None:
            return [f"{where}: required but missing"] if spec.get("required") else []
        media = _media_type(content_type)
        content = spec.get("content", {})
        if media not in content:
            return [f"{where}: content type {media!r} is not one of {sorted(content)}"]
        return self._validate(body, content[media].get("schema", {}), "request", where)

    def check_response(
        self, match: Match, status: int, body: Any, content_type: str | None
    ) -> list[str]:
        """The status must be documented (or `default`), and the JSON body fit its schema."""
        responses = match.operation.spec["responses"]
        spec = self.deref(responses.get(str(status), responses.get("default")))
        where = f"{match.operation} response {status}"
        if spec is None:
            return [f"{where}: status not documented (documented: {', '.join(responses)})"]
        content = spec.get("content", {})
        if not content:
            return [] if body is None else [f"{where}: documented without a body, but has one"]
        if body is None:
            return [f"{where}: documented with a body ({', '.join(content)}), but has none"]
        media = _media_type(content_type)
        if media not in content:
            return [f"{where}: content type {media!r} is not one of {sorted(content)}"]
        return self._validate(body, content[media].get("schema", {}), "response", where)

    def check_error(self, status: int, body: Any) -> list[str]:
        """Answers GitHub can give on any endpoint (bad credentials, rate limits, 5xx).

        The description lists 401/403/429/5xx for only some operations, yet GitHub sends them
        from every one, so the server checks those bodies against `basic-error` instead.
        """
        schema = {"$ref": "#/components/schemas/basic-error"}
        return self._validate(body, schema, "response", f"error response {status}")

    def _validate(self, value: Any, schema: Any, direction: Direction, where: str) -> list[str]:
        validator = Draft202012Validator(
            to_json_schema(schema, direction),
            registry=self._registries[direction],
            format_checker=_FORMATS,
        )
        return [_describe(error, where) for error in validator.iter_errors(value)]


def _describe(error: ValidationError, where: str) -> str:
    """One line per error; for a failed oneOf/anyOf, the alternative that came closest."""
    detail = best_match(error.context) if error.context else error
    return f"{where} at {detail.json_path}: {detail.message}"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _coerce(raw: str, kind: str | None) -> Any:
    """Query and path values arrive as text; give them the type the schema expects."""
    try:
        if kind == "integer":
            return int(raw)
        if kind == "boolean" and raw in {"true", "false"}:
            return raw == "true"
    except ValueError:
        return raw
    return raw


def _typed_params(operation: Operation, raw: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    params: dict[str, Any] = {}
    problems = []
    for name, text in raw.items():
        kind = (operation.parameter(name, "path") or {}).get("schema", {}).get("type")
        params[name] = _coerce(text, kind)
        if kind == "integer" and not isinstance(params[name], int):
            problems.append(f"path parameter {name}={text!r} is not an integer")
    return params, problems
