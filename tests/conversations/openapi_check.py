"""Validate real widget API responses against the served OpenAPI document."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:asthron:widget-openapi"


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class ApiSpec:
    def __init__(self, document: dict):
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self._paths = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in document["paths"]
        ]
        self.checked: set[tuple[str, str, str]] = set()

    def template_for(self, path: str) -> str:
        matches = [template for regex, template in self._paths if regex.match(path)]
        assert len(matches) == 1, f"{path} matches {matches} in the OpenAPI document"
        return matches[0]

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=self.registry)

    def schema_validator(self, name: str) -> Draft202012Validator:
        return self.validator("/" + _pointer("components", "schemas", name))

    def check(self, method: str, path: str, status: int, content_type: str, body) -> None:
        """Fail unless the document lists this status for the operation and the body fits."""
        template = self.template_for(path.split("?")[0])
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method} {template} is not in the document"
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{method} {template} answered {status}, which the document does not list "
            f"({sorted(responses)}): {body!r}"
        )
        media = content_type.split(";")[0].strip()
        content = responses[str(status)].get("content", {})
        assert media in content, f"{method} {template} {status}: {media} not documented"
        if media == "application/json":
            pointer = "/" + _pointer(
                "paths", template, method.lower(), "responses", str(status), "content", media
            )
            errors = sorted(
                self.validator(pointer + "/schema").iter_errors(body), key=lambda e: e.path
            )
            assert not errors, (
                f"{method} {template} {status} does not match the document: "
                + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
            )
        self.checked.add((method.lower(), template, str(status)))

    def check_webtest(self, response) -> None:
        request = response.request
        body = response.json if response.content_type == "application/json" else response.body
        self.check(request.method, request.path, response.status_int, response.content_type, body)
        if response.status_int == 429:
            assert response.headers.get("Retry-After", "").isdigit()

    def check_schema(self, name: str, value) -> None:
        errors = list(self.schema_validator(name).iter_errors(value))
        assert not errors, f"{name}: " + "; ".join(e.message for e in errors)
