"""Reorganisations within the confirmation depth never leave wrong state behind (anvil_reorg)."""

from __future__ import annotations

import pytest

from channels_app.models import ChainEvent, NetworkChannel
from channels_app.services.ingest import chain_ingest_all
from raidennode.chain.contracts import CUSTOM_TOKEN, TOKEN_NETWORK
from raidennode.chain.deploy import Deployer
from raidennode.chain.proxies import TokenNetworkProxy
from raidennode.nodes.keys import private_key_decrypt
from raidennode.nodes.services import node_account
from raidennode.protocol.addresses import address_to_bytes
from raidennode.protocol.constants import EMPTY_HASH, EMPTY_SIGNATURE, ChainChannelState, MessageTypeId
from raidennode.protocol.packing import pack_signed_balance_proof

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRMATIONS = 5


def _deployer(chain_env, node) -> Deployer:
    return Deployer(chain_env.client, private_key_decrypt(node.encrypted_key))


def _opened_channel(chain_env, alice, bob) -> NetworkChannel:
    _deployer(chain_env, alice).call(
        TOKEN_NETWORK, chain_env.token_network, "openChannel", alice.address, bob.address, 20
    )
    chain_env.mine(CONFIRMATIONS)
    chain_ingest_all()
    return NetworkChannel.objects.get()


def _reorg(chain_env, depth: int) -> None:
    """Replaces the last ``depth`` blocks with empty ones: their transactions are gone."""
    chain_env.client.rpc("anvil_reorg", [depth, []])


@pytest.fixture
def confirmations(settings):
    settings.RAIDEN_CONFIRMATIONS = CONFIRMATIONS


def test_a_deposit_removed_by_a_reorg_is_never_applied(chain_env, make_node, api_for, confirmations):
    alice, bob = make_node(tokens=1000), make_node()
    nc = _opened_channel(chain_env, alice, bob)
    deployer = _deployer(chain_env, alice)
    deployer.call(CUSTOM_TOKEN, chain_env.token, "approve", chain_env.token_network, 100)
    deployer.call(
        TOKEN_NETWORK, chain_env.token_network, "setTotalDeposit", int(nc.identifier), alice.address, 100, bob.address
    )
    chain_env.mine(CONFIRMATIONS - 3)
    chain_ingest_all()
    assert not ChainEvent.objects.filter(name="ChannelNewDeposit").exists(), "applied before it was confirmed"

    _reorg(chain_env, CONFIRMATIONS - 1)  # takes both transactions away
    chain_env.mine(2 * CONFIRMATIONS)
    chain_ingest_all()
    assert not ChainEvent.objects.filter(name="ChannelNewDeposit").exists()
    nc.refresh_from_db()
    assert (nc.participant1_deposit, nc.participant2_deposit) == (0, 0)
    assert api_for(alice).get("/channels").json_body[0]["total_deposit"] == "0"
    assert chain_env.token_balance(alice.address) == 1000  # and the chain agrees


def test_a_close_removed_by_a_reorg_is_never_applied(chain_env, make_node, api_for, confirmations):
    alice, bob = make_node(), make_node()
    nc = _opened_channel(chain_env, alice, bob)
    account = node_account(alice)
    closing_signature = account.sign_message(
        pack_signed_balance_proof(
            address_to_bytes(chain_env.token_network),
            chain_env.client.chain_id,
            int(nc.identifier),
            EMPTY_HASH,
            0,
            EMPTY_HASH,
            EMPTY_SIGNATURE,
            MessageTypeId.BALANCE_PROOF,
        )
    )
    _deployer(chain_env, alice).call(
        TOKEN_NETWORK,
        chain_env.token_network,
        "closeChannel",
        int(nc.identifier),
        bob.address,
        alice.address,
        EMPTY_HASH,
        0,
        EMPTY_HASH,
        EMPTY_SIGNATURE,
        closing_signature,
    )
    chain_env.mine(CONFIRMATIONS - 2)
    chain_ingest_all()
    assert NetworkChannel.objects.get().state == "opened"

    _reorg(chain_env, CONFIRMATIONS - 1)
    chain_env.mine(2 * CONFIRMATIONS)
    chain_ingest_all()
    assert not ChainEvent.objects.filter(name="ChannelClosed").exists()
    assert NetworkChannel.objects.get().state == "opened"
    for node in (alice, bob):
        assert api_for(node).get("/channels").json_body[0]["state"] == "opened"
    _, state = TokenNetworkProxy(chain_env.client, chain_env.token_network).channel_info(
        int(nc.identifier), alice.address, bob.address
    )
    assert state == ChainChannelState.OPENED  # and the chain agrees
