"""The PyPI client raiden-api-client 1.1.1 (``RaidenAPIWrapper``), unmodified, drives a node.

The client only knows ``http://<ip>:<port>/api/v1/``: the default node, which is the oldest one,
so the first node created here is the one it drives. The API is served by pytest-django's
threaded live server; chain operations run in the test session's Celery worker (or eagerly).
"""

from __future__ import annotations

import collections
import collections.abc
import re
from urllib.parse import urlparse

import pytest

from raidennode.chain.deploy import deploy_token

# attrdict 2.0.1 (a dependency of the client) imports Mapping & co. from ``collections``, which
# Python 3.10 removed; put the old aliases back before the client imports it.
for _name in ("Mapping", "MutableMapping", "Sequence"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

raiden_api_client = pytest.importorskip(
    "raiden_api_client", reason="pip install --no-deps raiden-api-client==1.1.1 attrdict==2.0.1"
)
from raiden_api_client import RaidenAPIWrapper  # noqa: E402
from raiden_api_client.exceptions import RaidenAPIException  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

TX_HASH = re.compile(r"0x[0-9a-f]{64}")


@pytest.fixture
def nodes(make_node):
    """(alice, bob): alice is created first, so she is the default node the client talks to."""
    return make_node(tokens=1000, name="alice"), make_node(tokens=1000, name="bob")


@pytest.fixture
def api_client(live_server, nodes) -> RaidenAPIWrapper:
    url = urlparse(live_server.url)
    return RaidenAPIWrapper(url.hostname, url.port, request_timeout=120)


def test_client_drives_a_node_through_a_channel_life(api_client, nodes, chain_env, token):
    alice, bob = nodes

    assert api_client.get_address().our_address == alice.address
    assert re.match(r"\d\.\d.\d.*", api_client.get_raiden_version().version)
    assert api_client.get_node_status().status == "ready"
    assert api_client.get_token_network() == [token]
    # GET /tokens/<t> answers a bare JSON string, which the client hands back as a str.
    assert api_client.get_token_network(token) == chain_env.token_network

    # A new token: registered through the client, then minted from the node's account.
    other = deploy_token(chain_env.deployer, 10**24, 18, "OtherToken", "OTK")
    registered = api_client.register_token(other)
    other_network = registered.token_network_address
    assert other_network and other_network != chain_env.token_network
    assert api_client.get_token_network(other) == other_network
    assert api_client.get_token_network() == [token, other]
    minted = api_client.mint_tokens(alice.address, other, 500)
    assert TX_HASH.fullmatch(minted.transaction_hash)
    assert chain_env.token_balance(alice.address, other) == 500

    opened = api_client.open_channel(bob.address, other, 100)
    assert opened.state == "opened"
    assert opened.partner_address == bob.address
    assert opened.token_address == other
    assert opened.token_network_address == other_network
    assert opened.settle_timeout == "500"  # the client's default
    assert opened.total_deposit == "100" and opened.balance == "100"

    channel = api_client.get_channels(other, bob.address)
    assert channel.channel_identifier == opened.channel_identifier
    assert [c.partner_address for c in api_client.get_channels(other)] == [bob.address]
    assert len(api_client.get_channels()) == 1

    funded = api_client.fund_channel(bob.address, other, 150)
    assert funded.total_deposit == "150" and funded.balance == "150"
    assert chain_env.token_balance(other_network, other) == 150

    connections = api_client.get_connections()
    assert connections[other]["channels"] == "1"
    assert connections[other]["sum_deposits"] == "150"
    assert set(connections) == {other}

    closed = api_client.close_channel(bob.address, other)
    assert closed.state == "closed"
    assert api_client.get_channels(other, bob.address).state == "closed"
    assert api_client.get_connections() == {}

    # Leaving a token network closes every channel the node has in it.
    api_client.open_channel(bob.address, token, 10, settle_timeout=40)
    left = api_client.leave_token_network(token)
    assert [(c.partner_address, c.state) for c in left] == [(bob.address, "closed")]
    assert api_client.get_channels(token, bob.address).state == "closed"
    assert chain_env.token_balance(alice.address) == 990


def failure(exception: type[Exception], call, *args) -> tuple:
    """The args of the ``exception`` that ``call(*args)`` must raise.

    Caught here rather than with pytest.raises: a kept ExceptionInfo holds the client's HTTP
    response, whose keep-alive connection would keep a live-server thread (and its database
    connection) alive after the test.
    """
    try:
        call(*args)
    except exception as exc:
        return exc.args
    pytest.fail(f"{call.__name__}{args} did not raise {exception.__name__}")


def test_client_errors(api_client, nodes, token):
    alice, bob = nodes

    # A 404 reaches the caller as RaidenAPIException(errors, status).
    errors, status = failure(RaidenAPIException, api_client.get_channels, token, bob.address)
    assert status == 404
    assert errors == f"Channel with partner '{bob.address}' for token '{token}' could not be found."

    errors, status = failure(RaidenAPIException, api_client.mint_tokens, alice.address, token, 0)
    assert status == 400
    assert list(errors) == ["value"]

    # Any 409 surfaces as a TypeError: the client calls RaidenAPIConflictException(errors, 409)
    # whose constructor takes one argument (a bug of raiden-api-client 1.1.1, see the spec).
    api_client.open_channel(bob.address, token, 10, settle_timeout=40)
    (message,) = failure(
        TypeError, api_client.fund_channel, bob.address, token, 10
    )  # "Total deposit did not increase."
    assert "positional argument" in message


def test_client_with_credentials_in_its_base_url(live_server, make_node, token, settings):
    """RAIDEN_AUTH on: the unmodified client reaches its node with the API token as the password
    of the base URL (``http://raiden:<key>@host:port/api/v1/``), and not without it."""
    from django.contrib.auth import get_user_model

    from raidennode.nodes.tokens import api_token_create

    make_node(tokens=1000, name="the deployment's default node")  # the oldest: not this user's
    carol, dave = make_node(tokens=1000, name="carol"), make_node(tokens=1000, name="dave")
    carol.owner = get_user_model().objects.create_user("carol")
    carol.save(update_fields=["owner"])
    _row, key = api_token_create(carol)
    settings.RAIDEN_AUTH = True
    url = urlparse(live_server.url)
    client = RaidenAPIWrapper(f"raiden:{key}@{url.hostname}", url.port, request_timeout=120)
    assert client.get_address().our_address == carol.address
    opened = client.open_channel(dave.address, token, 100)
    assert opened.partner_address == dave.address and opened.total_deposit == "100"
    assert [c.partner_address for c in client.get_channels(token)] == [dave.address]

    anonymous = RaidenAPIWrapper(url.hostname, url.port, request_timeout=30)
    with pytest.raises(RaidenAPIException):
        anonymous.get_address()
