"""GET /status: is the node's view of the chain complete enough to be used?"""

from __future__ import annotations

from django.conf import settings

from raidennode.chain.errors import ChainError

from ..models import Deployment
from .chain import chain
from .ingest import confirmed_head


def node_status() -> dict:
    """{"status": "ready"}, {"status": "syncing", "blocks_to_sync": n} or {"status": "unavailable"}.

    Syncing: the Ethereum node itself is syncing, or our ingestion lags the confirmed head by
    more than RAIDEN_SYNC_TOLERANCE blocks. Unavailable: no deployment, or no Ethereum node.
    """
    deployment = Deployment.objects.first()
    if deployment is None:
        return {"status": "unavailable"}
    client = chain()
    try:
        syncing = client.syncing()
        if syncing and syncing["highest_block"] > syncing["current_block"]:
            return {"status": "syncing", "blocks_to_sync": syncing["highest_block"] - syncing["current_block"]}
        lag = confirmed_head(client.block_number()) - deployment.synced_block
    except ChainError:
        return {"status": "unavailable"}
    if lag > settings.RAIDEN_SYNC_TOLERANCE:
        return {"status": "syncing", "blocks_to_sync": lag}
    return {"status": "ready"}
