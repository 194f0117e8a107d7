"""The OpenAPI schema as the service really answers, where FastAPI's own says otherwise.

Clients and the fuzzing tests (``tests/test_api_fuzz.py``) take the schema at its word, so each
difference below was a mismatch between what it promised and what came back:

- a 422 is ``ValidationErrorOut`` (``detail`` a sentence, ``errors`` the fields), the shape of
  ``api.app._invalid_request`` and of the services' ``InvalidInput``, not FastAPI's
  ``HTTPValidationError`` (``detail`` a list);
- every operation with a body can answer 400 when the body cannot be parsed at all (bytes that
  are not UTF-8 JSON, a broken multipart stream): FastAPI answers so before any validation;
- a form field is sent or left out, never ``null``: FastAPI writes ``anyOf [..., null]`` for an
  optional form field, which tells a client it may send the text "null", a value it refuses;
- a file field takes images (``encoding`` ``image/*``), sent as files (with a file name): any
  other bytes are a 422, and so is a part without a file name (a text field, to Starlette);
- a field marked ``x-catalog-label`` (``api.schemas.CATALOG_LABEL``) takes the catalog's labels,
  which only the application knows: they are listed there.
"""

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI

from api.schemas import CATALOG_LABEL, ErrorOut, ValidationErrorOut

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_MALFORMED = {
    "description": "The body could not be parsed (not JSON, not UTF-8, a broken form).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def correct_openapi(app: FastAPI, labels: Iterable[str]) -> None:
    """Make ``app.openapi()`` answer FastAPI's schema with the corrections above (built once,
    on first use, as FastAPI's is); ``labels``: the catalog's."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI keeps it as app.openapi_schema
            _correct_schema(schema)
            _list_labels(schema, sorted(labels))
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _correct_schema(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorOut, ValidationErrorOut):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in definition.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components.setdefault(model.__name__, definition)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            _correct(operation, components)


def _correct(operation: dict[str, Any], components: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    invalid = responses.get("422")
    if invalid is not None:
        invalid["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorOut"}}
        }
    body = operation.get("requestBody")
    if body is None:
        return
    responses.setdefault("400", _MALFORMED)
    for media_type in _FORM_TYPES:
        form = body.get("content", {}).get(media_type)
        if form is not None:
            fields = _resolved(form["schema"], components)
            _no_null_fields(fields)
            for name in _file_fields(fields):
                disposition = f'form-data; name="{name}"; filename="photo.jpg"'
                form.setdefault("encoding", {})[name] = {
                    "contentType": "image/*",
                    "headers": {
                        "Content-Disposition": {
                            "schema": {"type": "string"},
                            "example": disposition,
                        }
                    },
                }


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref", "")
    return components[reference.rsplit("/", 1)[-1]] if reference else schema


def _file_fields(form: dict[str, Any]) -> list[str]:
    """The form's file fields: photos, all of them, which the service decodes as images."""
    return [
        name
        for name, field in form.get("properties", {}).items()
        if field.get("items", {}).get("contentMediaType") == "application/octet-stream"
    ]


def _no_null_fields(form: dict[str, Any]) -> None:
    """``anyOf [X, null]`` of an optional form field becomes X, its annotations kept."""
    for name, field in form.get("properties", {}).items():
        options = [option for option in field.get("anyOf", ()) if option != {"type": "null"}]
        if "anyOf" in field and len(options) == 1:
            rest = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
            form["properties"][name] = {**options[0], **rest}


def _list_labels(node: Any, labels: list[str]) -> None:
    """Every ``x-catalog-label`` schema, replaced by the list of the catalog's labels."""
    if isinstance(node, dict):
        if node.pop(CATALOG_LABEL, False):
            node.update({"type": "string", "enum": labels})
        for value in node.values():
            _list_labels(value, labels)
    elif isinstance(node, list):
        for value in node:
            _list_labels(value, labels)
