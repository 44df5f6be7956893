"""A key imported from elsewhere whose address already has channels on chain: the new node gets
their Channel rows at once (ingestion only creates rows for events applied after a node exists)."""

from __future__ import annotations

import pytest
from eth_account import Account

from channels_app.services.ingest import chain_ingest_all
from raidennode.chain.deploy import Deployer, mint_tokens
from raidennode.chain.proxies import TokenNetworkProxy
from raidennode.nodes.custody import keystore_import
from raidennode.protocol.addresses import to_checksum_address

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_imported_key_adopts_its_channels_on_chain(chain_env, make_node, api_for, token):
    bob = make_node()
    account = Account.create()
    address = to_checksum_address(account.address)
    chain_env.set_eth(address, 10**19)
    # the address opens a channel with bob on chain, outside this deployment
    network = TokenNetworkProxy(chain_env.client, chain_env.token_network)
    Deployer(chain_env.client, bytes(account.key)).send(
        network.address, network.open_channel_data(address, bob.address, 20)
    )
    chain_ingest_all()
    assert api_for(bob).get(f"/channels/{token}/{address}").status_code == 200  # bob's side is known

    node = keystore_import(Account.encrypt(account.key, "pw", kdf="pbkdf2", iterations=2), "pw")
    assert node.address == address
    seen = api_for(node).get(f"/channels/{token}/{bob.address}")
    assert seen.status_code == 200, seen.json_body
    assert seen.json_body["state"] == "opened" and seen.json_body["partner_address"] == bob.address
    # and it works as a channel of the node: a deposit goes through the API
    mint_tokens(chain_env.deployer, token, address, 100)
    deposited = api_for(node).patch(f"/channels/{token}/{bob.address}", {"total_deposit": "40"})
    assert deposited.status_code == 200, deposited.json_body
    assert deposited.json_body["total_deposit"] == "40"
