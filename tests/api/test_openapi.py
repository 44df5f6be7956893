"""The OpenAPI document at /api/v1/schema and its page at /api/v1/docs.

The document is written by hand (raidennode/api/openapi.py); these tests keep it from drifting
from the URL configuration: every v1 route with every method its view serves is in it, and it
holds nothing else.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from raidennode.api.openapi import OPERATIONS, build_document

V1_PREFIX = "api/v1/"
NODE_V1_PREFIX = "nodes/{node_address}/api/v1/"
OLD_PREFIX = "api/1/"
IGNORED_METHODS = {"head", "options"}  # served on every route, not listed in the document
NOT_NODE_RESOURCES = {"/schema", "/docs"}


def _url_routes(patterns, prefix: str = ""):
    """(route with {param}s, callback) of every URL pattern, in resolution order."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _url_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), pattern.callback


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)  # a DRF viewset: {method: action}
    if actions is not None:
        return set(actions) - IGNORED_METHODS
    view_class = callback.view_class
    return {m for m in view_class.http_method_names if hasattr(view_class, m)} - IGNORED_METHODS


def routes_under(prefix: str) -> dict[str, set[str]]:
    """{path relative to the prefix: methods}; the first pattern of a path wins, as in Django."""
    routes: dict[str, set[str]] = {}
    for route, callback in _url_routes(get_resolver().url_patterns):
        if route.startswith(prefix):
            routes.setdefault("/" + route[len(prefix) :], _methods(callback))
    return routes


def operations_of(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


@pytest.fixture
def client():
    return Client()


@pytest.mark.parametrize("auth", [True, False])
def test_the_document_is_valid_openapi_3(auth):
    document = build_document(auth)
    validate(document)
    assert document["openapi"].startswith("3.0")
    assert {"TokenAuth", "BasicAuth"} <= set(document["components"]["securitySchemes"])
    assert ({} in document["security"]) is not auth  # credentials optional only with RAIDEN_AUTH off
    assert [server["url"] for server in document["servers"]] == ["/api/v1", "/nodes/{node_address}/api/v1"]
    operation_ids = [op.operation_id for op in OPERATIONS]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_v1_route_and_method_is_in_the_document_and_nothing_else():
    served = {(path, method) for path, methods in routes_under(V1_PREFIX).items() for method in methods}
    documented = operations_of(build_document())
    assert served - documented == set(), "routes missing from raidennode/api/openapi.py"
    assert documented - served == set(), "operations in raidennode/api/openapi.py that no route serves"


def test_node_prefixes_serve_the_same_routes_without_the_document():
    v1 = routes_under(V1_PREFIX)
    node_resources = {path: methods for path, methods in v1.items() if path not in NOT_NODE_RESOURCES}
    assert set(v1) - set(node_resources) == NOT_NODE_RESOURCES
    assert routes_under(NODE_V1_PREFIX) == node_resources
    assert routes_under(OLD_PREFIX) == node_resources


def test_every_operation_documents_its_errors():
    document = build_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert any(status.startswith("2") for status in statuses), (method, path)
            if path in NOT_NODE_RESOURCES:
                assert operation["security"] == []
                continue
            assert {"401", "404", "429", "503"} <= statuses, (method, path)
            assert ("403" in statuses) is (method != "get"), (method, path)
            if "requestBody" in operation:
                assert "400" in statuses, (method, path)
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            declared = {p["$ref"].rsplit("/", 1)[-1] for p in operation.get("parameters", ()) if "$ref" in p}
            assert set(re.findall(r"{(\w+)}", path)) <= declared, (method, path)


def test_request_bodies_list_exactly_the_fields_the_inputs_accept():
    from channels_app.api.inputs import (
        ChannelOpenInput,
        ChannelPatchInput,
        ConnectionConnectInput,
        MintInput,
        UserDepositInput,
    )
    from transfers_app.api.inputs import PaymentInput, RouteInput, TokenSwapInput

    schemas = build_document()["components"]["schemas"]
    pairs = {
        "ChannelOpenRequest": ChannelOpenInput,
        "ChannelPatchRequest": ChannelPatchInput,
        "MintRequest": MintInput,
        "UserDepositRequest": UserDepositInput,
        "PaymentRequest": PaymentInput,
        "RouteMetadata": RouteInput,
        "TokenSwapRequest": TokenSwapInput,
        "ConnectionConnectRequest": ConnectionConnectInput,
    }
    for name, serializer in pairs.items():
        schema = schemas[name]
        fields = serializer().fields
        assert set(schema["properties"]) == set(fields), name
        assert set(schema.get("required", ())) == {key for key, f in fields.items() if f.required}, name
        assert schema["additionalProperties"] is False, name


def test_the_schema_is_served_as_json_and_yaml_without_credentials_or_nodes(client, settings):
    settings.RAIDEN_AUTH = True  # no credentials sent, and no node exists: still 200
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    assert json.loads(response.content) == json.loads(json.dumps(build_document(True)))

    response = client.get("/api/v1/schema", {"format": "yaml"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(response.content) == json.loads(json.dumps(build_document(True)))

    response = client.get("/api/v1/schema", {"format": "xml"})
    assert response.status_code == 400
    assert json.loads(response.content) == {"errors": {"format": ["Must be one of: json, yaml."]}}


def test_the_schema_follows_raiden_auth(client, settings):
    settings.RAIDEN_AUTH = False
    assert {} in json.loads(client.get("/api/v1/schema").content)["security"]


def test_the_schema_and_docs_answer_other_methods_with_405():
    client = Client(enforce_csrf_checks=True)  # no CSRF page either: these views change nothing
    for path in ("/api/v1/schema", "/api/v1/docs"):
        response = client.post(path, "{}", content_type="application/json")
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD, OPTIONS"
        assert "errors" in json.loads(response.content)
    assert client.get("/api/v1/schema/").status_code == 404  # no trailing slash, no redirect
    assert client.get("/api/1/schema").status_code == 404  # only under /api/v1


def test_the_docs_page_renders_every_operation_without_scripts(client, settings):
    settings.RAIDEN_AUTH = True
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    document = build_document(True)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in html, (method, path)
            section = html.split(f'id="{operation["operationId"]}"', 1)[1].split("</section>", 1)[0]
            assert path in section and method.upper() in section, (method, path)
            for status in operation["responses"]:
                assert f"<td>{status}</td>" in section, (method, path, status)
    for field in ("token_address", "partner_address", "total_deposit", "secret_hash", "planned_withdraw_amount"):
        assert f"<code>{field}</code>" in html
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything from elsewhere"


# --- regressions schemathesis found (tests/integration/test_schemathesis.py) ------------------------


@pytest.mark.parametrize("route", [False, 0, "route", [], None])
def test_a_payment_route_that_is_not_an_object_is_a_field_error_not_a_500(route):
    from raidennode.api.errors import InputInvalid
    from raidennode.api.fields import validate_input
    from transfers_app.api.inputs import PaymentInput

    with pytest.raises(InputInvalid) as raised:
        validate_input(PaymentInput, {"amount": "1", "paths": [route]})
    errors = raised.value.errors["paths"]["0"]
    if route is None:
        assert len(errors) == 1 and "null" in errors[0]  # the wording is DRF's, not marshmallow's (yet)
    else:
        assert errors == {"_schema": ["Invalid input type."]}  # marshmallow's answer for a nested schema
