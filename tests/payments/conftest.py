"""Fixtures of payment tests: co-hosted nodes with open, funded channels."""

from __future__ import annotations

import pytest


def open_channel(api, token: str, partner, deposit: int) -> dict:
    response = api.put(
        "/channels", {"token_address": token, "partner_address": partner.address, "total_deposit": str(deposit)}
    )
    assert response.status_code == 201, response.json_body
    return response.json_body


def deposit(api, token: str, partner, total: int) -> dict:
    response = api.patch(f"/channels/{token}/{partner.address}", {"total_deposit": str(total)})
    assert response.status_code == 200, response.json_body
    return response.json_body


def pay(api, token: str, target, amount: int, **body):
    return api.post(f"/payments/{token}/{target.address}", {"amount": str(amount), **body})


def channel_of(api, token: str, partner) -> dict:
    response = api.get(f"/channels/{token}/{partner.address}")
    assert response.status_code == 200, response.json_body
    return response.json_body


@pytest.fixture
def pair(make_node, api_for, token):
    """Two nodes with a channel, 100 deposited on each side: (alice, bob, api of alice, api of bob)."""
    alice, bob = make_node(tokens=1000), make_node(tokens=1000)
    a, b = api_for(alice), api_for(bob)
    open_channel(a, token, bob, 100)
    deposit(b, token, alice, 100)
    return alice, bob, a, b


@pytest.fixture
def line(make_node, api_for, token):
    """alice - bob - carol, 100 deposited by the payer side of each channel."""
    alice, bob, carol = make_node(tokens=1000), make_node(tokens=1000), make_node(tokens=1000)
    a, b, c = api_for(alice), api_for(bob), api_for(carol)
    open_channel(a, token, bob, 100)
    open_channel(b, token, carol, 100)
    return (alice, bob, carol), (a, b, c)
