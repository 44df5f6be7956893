"""Fixtures of the API conformance tests: two co-hosted nodes and their APIs."""

from __future__ import annotations

import pytest


@pytest.fixture
def alice(make_node):
    """The oldest node, so also the default node served at /api/v1."""
    return make_node(name="alice")


@pytest.fixture
def bob(make_node, alice):
    return make_node(name="bob")


@pytest.fixture
def api(api_for, alice):
    """alice's API at /nodes/<alice>/api/v1."""
    return api_for(alice)


@pytest.fixture
def client(api_for):
    """The raw Django test client (for requests the Api helper cannot express)."""
    return api_for(None).client
