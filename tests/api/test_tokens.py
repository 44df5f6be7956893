"""GET /tokens, GET and PUT /tokens/<t>, GET /tokens/<t>/partners and POST /_testing/tokens/<t>/mint
(spec 3.5, 4.14-4.17, 4.20)."""

from __future__ import annotations

import json

import pytest

from raidennode.chain.deploy import deploy_token
from raidennode.chain.proxies import TokenNetworkRegistryProxy
from raidennode.protocol.addresses import is_checksum_address
from tests.api.support import (
    NULL_ADDRESS,
    UINT256_MAX,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_tx_hash,
    lower,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)

MINT_RANGE = (
    "Must be greater than or equal to 1 and less than or equal to "
    "115792089237316195423570985008687907853269984665640564039457584007913129639935."
)


def test_list_and_get_token(api, chain_env, token):
    assert assert_ok(api.get("/tokens")) == [token]
    response = api.get(f"/tokens/{token}")
    # A bare JSON string: the token network address.
    assert assert_ok(response) == chain_env.token_network
    assert response.content == f'"{chain_env.token_network}"'.encode()


def test_get_unregistered_token(api, chain_env, alice):
    other = deploy_token(chain_env.deployer, 10**18, 18, "Other", "OTH")
    for address in (other, alice.address, NULL_ADDRESS):
        response = api.get(f"/tokens/{address}")
        assert_error(response, 404, f'No token network registered for token "{address}"')
        assert b'\\"' + address.encode() + b'\\"' in response.content


def test_register_token(api, api_for, chain_env, token, bob):
    new_token = deploy_token(chain_env.deployer, 10**20, 18, "New", "NEW")
    # The body is ignored, even when it is not JSON at all.
    response = send(api, "PUT", f"/tokens/{new_token}", raw=b"{not json")
    body = assert_ok(response, 201)
    # channel_manager_address: the older API's name for the same contract.
    assert set(body) == {"token_network_address", "channel_manager_address"}
    network = body["token_network_address"]
    assert body["channel_manager_address"] == network
    assert is_checksum_address(network)
    registry = TokenNetworkRegistryProxy(chain_env.client, chain_env.raiden.token_network_registry)
    assert registry.token_network(new_token) == network

    assert assert_ok(api.get(f"/tokens/{new_token}")) == network
    # Every node of the deployment knows the new token.
    assert assert_ok(api_for(bob).get("/tokens")) == [token, new_token]

    # A channel can be opened in the new token network right away.
    opened = api.put("/channels", {"token_address": new_token, "partner_address": bob.address})
    assert assert_ok(opened, 201)["token_network_address"] == network

    assert_error(api.put(f"/tokens/{new_token}"), 409, "Token already registered")
    assert_error(api_for(bob).put(f"/tokens/{token}", {}), 409, "Token already registered")


def test_register_token_conflicts(api, chain_env, bob):
    assert_error(api.put(f"/tokens/{NULL_ADDRESS}"), 409, "token_address must be non-zero")
    assert_error(
        api.put(f"/tokens/{chain_env.raiden.secret_registry}"),
        409,
        "Given token address does not follow the ERC20 standard (missing `totalSupply()`)",
    )
    no_code = api.put(f"/tokens/{bob.address}")
    assert no_code.status_code == 409, no_code.content
    assert isinstance(no_code.json_body["errors"], str) and no_code.json_body["errors"]
    assert_ok(api.get("/tokens"))


def test_production_mode_disables_register_and_mint(api, chain_env, settings, bob, token):
    settings.PRODUCTION = True
    new_token = deploy_token(chain_env.deployer, 10**18, 18, "Prod", "PRD")
    assert_error(
        api.put(f"/tokens/{new_token}"), 501, "Registering a new token is currently disabled in production mode"
    )
    assert_error(
        api.post(f"/_testing/tokens/{token}/mint", {"to": bob.address, "value": "1"}),
        501,
        "Minting a token is currently disabled in production mode",
    )
    assert chain_env.token_balance(bob.address) == 1000


def test_partners(api_for, alice, bob, make_node, token, chain_env):
    a = api_for(alice)
    assert assert_ok(a.get(f"/tokens/{token}/partners")) == []
    unknown = deploy_token(chain_env.deployer, 10**18, 18, "Unknown", "UNK")
    assert assert_ok(a.get(f"/tokens/{unknown}/partners")) == []

    carol = make_node(name="carol")
    for partner in (bob, carol):
        assert a.put("/channels", {"token_address": token, "partner_address": partner.address}).status_code == 201
    expected = [
        {"partner_address": p.address, "channel": f"/nodes/{alice.address}/api/v1/channels/{token}/{p.address}"}
        for p in (bob, carol)
    ]
    assert assert_ok(a.get(f"/tokens/{token}/partners")) == expected
    # At the default node's URL the link is /api/v1/channels/<token>/<partner>, as Raiden's url_for gives.
    assert assert_ok(api_for(None).get(f"/tokens/{token}/partners")) == [
        {"partner_address": p.address, "channel": f"/api/v1/channels/{token}/{p.address}"} for p in (bob, carol)
    ]
    # Non-open channels are listed too.
    assert a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"}).status_code == 200
    assert assert_ok(a.get(f"/tokens/{token}/partners")) == expected
    # The link leads to the channel.
    link = api_for(None).client.get(expected[0]["channel"])
    assert link.status_code == 200, link.content
    channel = json.loads(link.content)
    assert channel["partner_address"] == bob.address and channel["state"] == "closed"


# --- POST /_testing/tokens/<t>/mint -----------------------------------------------------------------


def test_mint(api, chain_env, token, alice, bob):
    response = api.post(f"/_testing/tokens/{token}/mint", {"to": bob.address, "value": "100"})
    body = assert_ok(response)
    assert set(body) == {"transaction_hash"}
    assert_tx_hash(body["transaction_hash"])
    assert chain_env.token_balance(bob.address) == 1100
    receipt = chain_env.client.receipt(body["transaction_hash"])
    assert receipt is not None and receipt["status"] == 1

    # Integers as JSON numbers, minting to ourselves, and on a token without a token network.
    assert_tx_hash(
        assert_ok(api.post(f"/_testing/tokens/{token}/mint", {"to": alice.address, "value": 5}))["transaction_hash"]
    )
    assert chain_env.token_balance(alice.address) == 1005
    other = deploy_token(chain_env.deployer, 1, 18, "Other", "OTH")
    assert_ok(api.post(f"/_testing/tokens/{other}/mint", {"to": bob.address, "value": str(UINT256_MAX - 1)}))
    assert chain_env.token_balance(bob.address, other) == UINT256_MAX - 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"to": "{bob}", "value": 0}, {"value": [MINT_RANGE]}),
        ({"to": "{bob}", "value": "0"}, {"value": [MINT_RANGE]}),
        ({"to": "{bob}", "value": -1}, {"value": [MINT_RANGE]}),
        ({"to": "{bob}", "value": str(UINT256_MAX + 1)}, {"value": [MINT_RANGE]}),
        ({"to": "{bob}", "value": "1.5"}, {"value": ["Not a valid integer."]}),
        ({"to": "{bob}", "value": True}, {"value": ["Not a valid integer."]}),
        ({"to": "{bob}", "value": None}, {"value": ["Field may not be null."]}),
        ({"to": "{bob}"}, {"value": ["Missing data for required field."]}),
        ({"value": 1}, {"to": ["Missing data for required field."]}),
        ({"to": None, "value": 1}, {"to": ["Field may not be null."]}),
        ({"to": "{bob_lower}", "value": 1}, {"to": ["Not a valid EIP55 encoded address"]}),
        ({"to": "{bob_bare}", "value": 1}, {"to": ["Not a valid hex encoded address, must be 0x prefixed."]}),
        ({"to": NULL_ADDRESS, "value": 1}, {"to": [f"The {NULL_ADDRESS} address is not accepted"]}),
        ({"to": "{bob}", "value": 1, "contract_method": "mintFor"}, {"contract_method": ["Unknown field."]}),
        (
            {"to": "{bob_lower}", "value": 0, "amount": 1},
            {"amount": ["Unknown field."], "to": ["Not a valid EIP55 encoded address"], "value": [MINT_RANGE]},
        ),
    ],
)
def test_mint_input_errors(api, chain_env, token, bob, body, errors):
    names = {"{bob}": bob.address, "{bob_lower}": lower(bob.address), "{bob_bare}": bob.address[2:]}
    body = {key: names.get(value, value) if isinstance(value, str) else value for key, value in body.items()}
    assert_field_errors(api.post(f"/_testing/tokens/{token}/mint", body), errors)
    assert chain_env.token_balance(bob.address) == 1000


def test_mint_on_a_contract_that_is_not_a_mintable_token(api, chain_env, bob):
    for address in (chain_env.token_network, chain_env.raiden.secret_registry):
        response = api.post(f"/_testing/tokens/{address}/mint", {"to": bob.address, "value": "1"})
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/json"
        message = response.json_body["errors"]
        assert isinstance(message, str) and message.startswith("Minting failed: "), message
        assert response.content == json.dumps({"errors": message}).encode()


def test_mint_on_an_address_without_code(api, chain_env, bob):
    """mintFor to an account without code is a plain transfer that mints nothing: 400, as for a contract
    without mintFor."""
    response = api.post(f"/_testing/tokens/{bob.address}/mint", {"to": bob.address, "value": "1"})
    assert response.status_code == 400, response.content
    assert response.json_body["errors"].startswith("Minting failed: "), response.json_body
