"""Fixtures of the authentication tests: users owning nodes, API tokens, authenticated clients."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model

from raidennode.nodes.tokens import api_token_create
from tests.conftest import Api
from tests.payments.conftest import deposit, open_channel, pay  # noqa: F401 (re-exported for tests)


class AuthApi(Api):
    """An Api whose every request carries the given headers (credentials)."""

    def __init__(self, client, prefix: str, headers: dict[str, str]) -> None:
        super().__init__(client, prefix)
        self.headers = headers

    def request(self, method, path, body=None, raw=None, content_type="application/json", **extra):
        return super().request(method, path, body, raw, content_type, **self.headers, **extra)


def token_header(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def basic_header(key: str, user: str = "raiden") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


@pytest.fixture
def owned_node(make_node):
    """owned_node(username) -> (user, node, full token key): a user with one funded node."""

    def factory(username: str, **node_options):
        user = get_user_model().objects.create_user(username, password=f"{username}-password")
        node = make_node(**node_options)
        node.owner = user
        node.save(update_fields=["owner"])
        _token, key = api_token_create(node, name="tests")
        return user, node, key

    return factory
