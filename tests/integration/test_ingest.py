"""Chain ingestion: confirmations, idempotency, and events that concern co-hosted nodes."""

import pytest

from channels_app.models import ChainEvent, Channel, NetworkChannel, TokenNetwork
from channels_app.services.ingest import chain_ingest, chain_ingest_all
from raidennode.chain.contracts import TOKEN_NETWORK, contract

pytestmark = pytest.mark.django_db(transaction=True)


def _open_on_chain(chain_env, opener, partner, settle_timeout=20):
    """Opens a channel straight on chain from ``opener``'s key (not through the node's API)."""
    from raidennode.chain.deploy import Deployer
    from raidennode.nodes.keys import private_key_decrypt

    deployer = Deployer(chain_env.client, private_key_decrypt(opener.encrypted_key))
    deployer.call(
        TOKEN_NETWORK, chain_env.token_network, "openChannel", opener.address, partner.address, settle_timeout
    )


def test_channel_opened_by_partner_shows_up_for_both_nodes(chain_env, make_node, api_for):
    alice, bob = make_node(), make_node()
    _open_on_chain(chain_env, alice, bob)
    chain_ingest_all()
    for node, partner in ((alice, bob), (bob, alice)):
        listed = api_for(node).get("/channels").json_body
        assert [c["partner_address"] for c in listed] == [partner.address]
        assert listed[0]["state"] == "opened"


def test_events_wait_for_confirmations_and_apply_once(chain_env, make_node, settings):
    settings.RAIDEN_CONFIRMATIONS = 3
    alice, bob = make_node(), make_node()
    _open_on_chain(chain_env, alice, bob)
    chain_ingest_all()
    assert not NetworkChannel.objects.exists(), "applied before it had 3 confirmations"
    chain_env.mine(2)
    chain_ingest_all()
    assert not NetworkChannel.objects.exists()
    chain_env.mine(1)
    chain_ingest_all()
    assert NetworkChannel.objects.count() == 1
    assert Channel.objects.count() == 2
    opened = ChainEvent.objects.filter(name="ChannelOpened")
    assert opened.count() == 1
    assert opened.get().args["participant1"] == alice.address

    # Re-reading the same blocks changes nothing.
    from channels_app.models import Deployment

    Deployment.objects.update(synced_block=0)
    chain_ingest_all()
    assert ChainEvent.objects.filter(name="ChannelOpened").count() == 1
    assert Channel.objects.count() == 2


def test_token_network_created_is_ingested(chain_env):
    assert list(TokenNetwork.objects.values_list("token_address", "address")) == [
        (chain_env.token, chain_env.token_network)
    ]
    assert chain_ingest() is not None
    assert contract(TOKEN_NETWORK).events_by_name["ChannelOpened"].topic0.hex().startswith("669a4b0a")
