"""Running out of ETH: 402 across endpoints (spec 4.7 steps 9-10, 4.8.4, 4.19, 4.20).

(The deposit-limit 409s of spec 4.8.1 cannot be reached here: the registry of contracts 0.40.0 outside
test mode only accepts unlimited token networks.)"""

from __future__ import annotations

import pytest

from raidennode.chain.deploy import mint_tokens
from tests.api.support import assert_ok

pytestmark = pytest.mark.django_db(transaction=True)

GAS_RESERVE = "The account balance is below the estimated amount necessary to finish the lifecycles"


def assert_402(response, contains: str = "") -> str:
    assert response.status_code == 402, response.content
    assert response["Content-Type"] == "application/json"
    message = response.json_body["errors"]
    assert isinstance(message, str) and contains in message, message
    return message


def test_open_without_eth_for_the_gas_reserve(api_for, make_node, bob, token):
    poor = make_node(name="poor", eth=0)
    api = api_for(poor)
    assert_402(api.put("/channels", {"token_address": token, "partner_address": bob.address}), GAS_RESERVE)
    assert assert_ok(api.get("/channels")) == []


def test_close_mint_and_udc_without_eth(api, alice, bob, chain_env, token):
    path = f"/channels/{token}/{bob.address}"
    assert_ok(api.put("/channels", {"token_address": token, "partner_address": bob.address}), 201)
    chain_env.set_eth(alice.address, 0)

    assert_402(api.patch(path, {"state": "closed"}), "insufficient ETH")
    # Nothing reached the chain: the channel is still open and can be closed once funded.
    assert assert_ok(api.get(path))["state"] == "opened"
    assert_402(api.post(f"/_testing/tokens/{token}/mint", {"to": bob.address, "value": 1}))
    mint_tokens(chain_env.deployer, chain_env.raiden.service_token, alice.address, 10)
    assert_402(api.post("/user_deposit", {"total_deposit": 10}))
    assert chain_env.token_balance(bob.address) == 1000

    chain_env.set_eth(alice.address, 10**20)
    assert assert_ok(api.patch(path, {"state": "closed"}))["state"] == "closed"
