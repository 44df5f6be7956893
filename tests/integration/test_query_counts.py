"""The list endpoints issue a constant number of SQL queries, whatever the number of channels.

Channels are opened on chain (real openChannel transactions from the node's own key) and
ingested with chain_ingest_all, then each list endpoint is called with 1 and with 30 channels in
the node's state: the number of queries must not change (no query per channel, per token network
or per partner). Timing is not checked here: see benchmarks/api_reads.py.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.services.ingest import chain_ingest_all
from raidennode.chain.contracts import TOKEN_NETWORK
from raidennode.chain.deploy import Deployer, deploy_token, register_token_network
from raidennode.nodes.keys import private_key_generate
from raidennode.nodes.services import node_create
from tests.conftest import TEST_SETTLE_TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

LIST_PATHS = (
    "/channels",
    "/channels/{token}",
    "/tokens",
    "/tokens/{token}/partners",
    "/connections",
)


def open_channels(chain, key: bytes, token_network: str, partners) -> None:
    """openChannel(us, partner) for each partner, sent from ``key``, then ingested."""
    deployer = Deployer(chain.client, key)
    for partner in partners:
        deployer.call(
            TOKEN_NETWORK, token_network, "openChannel", deployer.address, partner.address, TEST_SETTLE_TIMEOUT
        )
    chain_ingest_all()


def queries_of(api, path: str) -> tuple[int, list | dict]:
    """(SQL queries of GET ``path``, its JSON body); a first call warms lazy caches."""
    assert api.get(path).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path)
    assert response.status_code == 200, response.json_body
    return len(ctx), response.json_body


def query_counts(apis, token: str) -> dict[tuple[str, str], int]:
    counts = {}
    for prefix, api in apis.items():
        for template in LIST_PATHS:
            counts[(prefix, template)], _ = queries_of(api, template.format(token=token))
    return counts


def test_list_endpoints_query_count_does_not_grow_with_channels(chain_env, api_for, token, settings):
    hub_key = private_key_generate()
    hub = node_create(name="hub", private_key=hub_key)
    partners = [node_create(name=f"partner {i}") for i in range(30)]
    chain_env.set_eth(hub.address, 10**20)
    settings.RAIDEN_DEFAULT_NODE = hub.address
    apis = {"/nodes/<hub>/api/v1": api_for(hub), "/api/v1 (default node)": api_for(None)}

    open_channels(chain_env, hub_key, chain_env.token_network, partners[:1])
    _, channels = queries_of(apis["/api/v1 (default node)"], "/channels")
    assert len(channels) == 1
    with_one = query_counts(apis, token)

    # 29 more channels, 5 of them in a second token network (rows then join different networks).
    other_token = deploy_token(chain_env.deployer, 10**24, 18, "OtherToken", "OTK")
    other_network = register_token_network(chain_env.deployer, chain_env.raiden.token_network_registry, other_token)
    open_channels(chain_env, hub_key, chain_env.token_network, partners[1:25])
    open_channels(chain_env, hub_key, other_network, partners[25:])
    for api in apis.values():
        _, channels = queries_of(api, "/channels")
        assert len(channels) == 30
        _, tokens = queries_of(api, "/tokens")
        assert set(tokens) == {token, other_token}
        _, partners_body = queries_of(api, f"/tokens/{token}/partners")
        assert len(partners_body) == 25
    with_thirty = query_counts(apis, token)

    assert with_thirty == with_one, {key: (with_one[key], with_thirty[key]) for key in with_one}


def test_partner_side_query_count_does_not_grow(chain_env, api_for, token):
    """The nodes on the other side of those channels (a channel opened by its partner) alike."""
    keys = [private_key_generate() for _ in range(30)]
    openers = [node_create(name=f"opener {i}", private_key=key) for i, key in enumerate(keys)]
    target = node_create(name="target")
    for opener in openers:
        chain_env.set_eth(opener.address, 10**20)
    api = {"/nodes/<target>/api/v1": api_for(target)}

    open_channels(chain_env, keys[0], chain_env.token_network, [target])
    with_one = query_counts(api, token)
    for key in keys[1:]:
        open_channels(chain_env, key, chain_env.token_network, [target])
    _, channels = queries_of(api["/nodes/<target>/api/v1"], "/channels")
    assert len(channels) == 30
    with_thirty = query_counts(api, token)

    assert with_thirty == with_one, {key: (with_one[key], with_thirty[key]) for key in with_one}
