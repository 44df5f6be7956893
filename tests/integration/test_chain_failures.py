"""When the chain does not cooperate: no ETH (402), not mined in time (408), RPC down (503)."""

import time

import pytest

from channels_app.models import ChainOperation
from channels_app.services.ingest import chain_ingest_all
from channels_app.services.operations import operations_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_without_eth_for_the_gas_reserve_is_402(chain_env, make_node, api_for):
    poor, partner = make_node(eth=10**12), make_node()
    response = api_for(poor).put("/channels", {"token_address": chain_env.token, "partner_address": partner.address})
    assert response.status_code == 402
    assert "The account balance is below the estimated amount" in response.json_body["errors"]
    assert not ChainOperation.objects.exists(), "nothing may be queued for the chain"


def test_close_without_eth_is_402_and_the_channel_stays_usable(chain_env, make_node, api_for):
    alice, bob = make_node(), make_node()
    a = api_for(alice)
    opened = a.put("/channels", {"token_address": chain_env.token, "partner_address": bob.address})
    assert opened.status_code == 201, opened.json_body
    chain_env.set_eth(alice.address, 0)
    path = f"/channels/{chain_env.token}/{bob.address}"
    refused = a.patch(path, {"state": "closed"})
    assert refused.status_code == 402, refused.json_body
    assert "insufficient ETH" in refused.json_body["errors"]
    assert a.get(path).json_body["state"] == "opened"
    assert alice.chain_transactions.filter(step="close").exclude(status="dropped").count() == 0

    chain_env.set_eth(alice.address, 10**20)
    closed = a.patch(path, {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    assert closed.json_body["state"] == "closed"


def test_a_transaction_not_mined_in_time_is_408_and_lands_later(chain_env, make_node, api_for, settings, eager_celery):
    settings.RAIDEN_TRANSACTION_TIMEOUT = 1
    alice, bob = make_node(), make_node()
    chain_env.client.rpc("evm_setAutomine", [False])
    try:
        response = api_for(alice).put("/channels", {"token_address": chain_env.token, "partner_address": bob.address})
        assert response.status_code == 408, response.json_body
        assert "not mined in time" in response.json_body["errors"]
        op = ChainOperation.objects.get(kind="channel_open")
        assert op.status == "running" and op.error_code == "timeout"
    finally:
        chain_env.client.rpc("evm_setAutomine", [True])
    chain_env.mine(1)
    assert operations_sweep() == 1
    op.refresh_from_db()
    assert op.status == "succeeded", (op.error_code, op.error_message)
    assert op.transactions.count() == 1, "the same transaction was watched, not a second one sent"
    chain_ingest_all()
    listed = api_for(alice).get("/channels").json_body
    assert [c["partner_address"] for c in listed] == [bob.address]


def test_an_unreachable_ethereum_node_is_503_and_reads_still_work(chain_env, make_node, api_for, settings):
    alice, bob = make_node(), make_node()
    settings.ETH_RPC_URL = "http://127.0.0.1:9"
    a = api_for(alice)
    response = a.put("/channels", {"token_address": chain_env.token, "partner_address": bob.address})
    assert response.status_code == 503
    assert "not reachable" in response.json_body["errors"]
    assert a.get("/channels").json_body == []
    assert a.get("/status").json_body == {"status": "unavailable"}


def test_duties_pause_while_the_ethereum_node_is_down_and_resume_after(chain_env, make_node, api_for, settings):
    """The settle duty of a closed channel during an RPC outage: nothing is lost, nothing
    crashes, and the settlement happens once the Ethereum node answers again."""
    from channels_app.models import ChainOperation, NetworkChannel
    from channels_app.tasks import chain_duties_run, chain_ingest
    from transfers_app.tasks import transfer_duties_run

    alice, bob = make_node(), make_node()
    a = api_for(alice)
    assert a.put("/channels", {"token_address": chain_env.token, "partner_address": bob.address}).status_code == 201
    closed = a.patch(f"/channels/{chain_env.token}/{bob.address}", {"state": "closed"})
    assert closed.status_code == 200, closed.json_body
    chain_env.mine(30)  # the settlement window has passed

    rpc = settings.ETH_RPC_URL
    settings.ETH_RPC_URL = "http://127.0.0.1:9"
    assert chain_ingest() == 0 and chain_duties_run() == 0 and transfer_duties_run() == 0
    assert not ChainOperation.objects.filter(kind="channel_settle").exists()
    answer = a.patch(f"/channels/{chain_env.token}/{bob.address}", {"state": "settled"})
    assert answer.status_code == 503 and "not reachable" in answer.json_body["errors"]

    settings.ETH_RPC_URL = rpc
    for _ in range(200):
        chain_ingest()
        chain_duties_run()
        if NetworkChannel.objects.get().state == "settled":
            break
        time.sleep(0.05)
    assert NetworkChannel.objects.get().state == "settled"
