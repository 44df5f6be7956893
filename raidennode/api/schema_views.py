"""GET /api/v1/schema (the OpenAPI document) and GET /api/v1/docs (the same as an HTML page).

Neither is a node resource: both answer without credentials and without a node. The page is
rendered on the server from the document with a Django template of this package, loaded by an
engine of its own (``raidennode.api`` is not an installed app); it needs no JavaScript and no CDN.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template import Context, Engine
from django.utils.decorators import method_decorator
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .errors import METHOD_NOT_ALLOWED
from .openapi import build_document

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DOCS_TEMPLATE = "raidennode/api_docs.html"
FORMATS = ("json", "yaml")


@method_decorator(csrf_exempt, name="dispatch")  # changes nothing: 405 on writes, not a CSRF page
class ReadOnlyView(View):
    """GET (and HEAD, OPTIONS) only; other methods get the API's 405 body."""

    http_method_names = ["get", "head", "options"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = JsonResponse(
            {"message": METHOD_NOT_ALLOWED, "errors": f"The method {request.method} is not allowed here"}, status=405
        )
        response["Allow"] = ", ".join(self._allowed_methods())
        return response


def current_document() -> dict:
    return build_document(getattr(settings, "RAIDEN_AUTH", True))


class SchemaView(ReadOnlyView):
    def get(self, request, *args, **kwargs):
        fmt = request.GET.get("format", "json")
        if fmt not in FORMATS:
            return JsonResponse({"errors": {"format": [f"Must be one of: {', '.join(FORMATS)}."]}}, status=400)
        return HttpResponse(_serialised(getattr(settings, "RAIDEN_AUTH", True), fmt), content_type=_MEDIA_TYPES[fmt])


_MEDIA_TYPES = {"json": "application/vnd.oai.openapi+json", "yaml": "application/yaml; charset=utf-8"}


@lru_cache(maxsize=4)
def _serialised(auth: bool, fmt: str) -> bytes:
    document = build_document(auth)
    if fmt == "yaml":
        import yaml  # PyYAML comes with drf-spectacular

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()
    return json.dumps(document, indent=2).encode()


class DocsView(ReadOnlyView):
    def get(self, request, *args, **kwargs):
        html = _docs_engine().get_template(DOCS_TEMPLATE).render(Context(docs_context(current_document())))
        return HttpResponse(html, content_type="text/html; charset=utf-8")


@lru_cache(maxsize=1)
def _docs_engine() -> Engine:
    return Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True)


# --- the page's view of the document ----------------------------------------------------------------


def _resolve(document: dict, schema: dict) -> tuple[str | None, dict]:
    """(component name, schema) behind a ``$ref``, or (None, schema)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        section = schema["$ref"].split("/")[2]
        return name, document["components"][section][name]
    return None, schema


def type_label(document: dict, schema: dict) -> str:
    """A short type for a table cell: ``Channel``, ``array of Address``, ``IntegerInput | null``."""
    name, _ = _resolve(document, schema)
    if name:
        label = name
    elif len(schema.get("allOf", ())) == 1:
        label = type_label(document, schema["allOf"][0])
    elif "anyOf" in schema or "oneOf" in schema:
        label = " | ".join(type_label(document, s) for s in schema.get("anyOf", schema.get("oneOf")))
    elif schema.get("type") == "array":
        label = f"array of {type_label(document, schema['items'])}"
    elif "enum" in schema:
        label = " | ".join(json.dumps(value) for value in schema["enum"] if value is not None)
    elif schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        label = f"object of {type_label(document, schema['additionalProperties'])}"
    else:
        label = schema.get("type", "any")
        if "pattern" in schema:
            label += f" {schema['pattern']}"
    if schema.get("nullable") and not label.endswith("| null"):
        label += " | null"
    return label


def _description(document: dict, schema: dict) -> str:
    """The schema's own description, else the one of what it wraps."""
    if schema.get("description"):
        return schema["description"]
    for inner in schema.get("allOf", ()):
        text = _description(document, _resolve(document, inner)[1])
        if text:
            return text
    return ""


def _fields(document: dict, schema: dict) -> list[dict]:
    _, schema = _resolve(document, schema)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "type": type_label(document, prop),
            "required": name in required,
            "description": markdown(_description(document, prop)),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def docs_context(document: dict) -> dict:
    tags = {
        tag["name"]: {**tag, "description": markdown(tag["description"]), "operations": []} for tag in document["tags"]
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            parameters = [_resolve(document, p)[1] for p in operation.get("parameters", ())]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            tags[operation["tags"][0]]["operations"].append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "description": markdown(operation.get("description", "")),
                    "public": operation.get("security") == [],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "type": type_label(document, p["schema"]),
                            "required": p.get("required", False),
                            "description": markdown(p.get("description", "")),
                        }
                        for p in parameters
                    ],
                    "body_type": type_label(document, body) if body else "",
                    "body_fields": _fields(document, body) if body else [],
                    "responses": [
                        {
                            "status": status,
                            "description": markdown(response["description"]),
                            "types": ", ".join(
                                f"{media}: {type_label(document, content['schema'])}"
                                for media, content in response.get("content", {}).items()
                            ),
                        }
                        for status, response in operation["responses"].items()
                    ],
                }
            )
    objects = [
        {
            "name": name,
            "type": type_label(document, {k: v for k, v in schema.items() if k != "description"}),
            "description": markdown(schema.get("description", "")),
            "fields": _fields(document, schema),
        }
        for name, schema in document["components"]["schemas"].items()
    ]
    return {
        "title": document["info"]["title"],
        "version": document["info"]["version"],
        "openapi": document["openapi"],
        "description": markdown(document["info"]["description"]),
        "servers": document["servers"],
        "security_schemes": [
            {"name": name, "description": markdown(scheme.get("description", ""))}
            for name, scheme in document["components"]["securitySchemes"].items()
        ],
        "tags": [tag for tag in tags.values() if tag["operations"]],
        "objects": objects,
    }


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
]


def markdown(text: str) -> SafeString:
    """The little Markdown the descriptions use: paragraphs, ``*`` lists, code and bold spans."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        items: list[str] = []
        paragraph: list[str] = []
        for line in lines:
            if line.startswith("* "):
                items.append(line[2:])
            elif items and line.startswith("  "):
                items[-1] += " " + line.strip()
            else:
                paragraph.append(line.strip())
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
    return mark_safe("".join(blocks))  # noqa: S308 - every piece of text went through escape()


def _inline(text: str) -> str:
    html = escape(text)
    for pattern, replacement in _INLINE:
        html = pattern.sub(replacement, html)
    return html
