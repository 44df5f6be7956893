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


def post_in_background(api, path: str, body: dict, results: list):
    """POSTs from a thread of its own (a request that blocks, e.g. a payment waiting for its
    lock); appends (status, body) to ``results``. Returns the started thread."""
    import threading

    from django.db import connection
    from django.test import Client

    from tests.conftest import Api

    def run() -> None:
        try:
            response = Api(Client(), api.prefix).post(path, body)
            results.append((response.status_code, response.json_body))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(predicate, what: str, seconds: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def duty_rounds(until, what: str, rounds: int = 400) -> None:
    """Runs ingestion and every duty, as beat would, until ``until()`` holds."""
    import time

    from channels_app.models import ChainOperation
    from channels_app.services.duties import chain_duties_run
    from channels_app.services.ingest import chain_ingest_all
    from transfers_app.services.duties import transfer_duties_run

    for _ in range(rounds):
        chain_ingest_all()
        chain_duties_run()
        transfer_duties_run()
        if until():
            return
        time.sleep(0.05)
    operations = list(ChainOperation.objects.values_list("kind", "status", "error_message"))
    raise AssertionError(f"timed out waiting for {what}: {operations}")
