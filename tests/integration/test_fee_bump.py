"""A transaction that is not mined in time is sent again with the same nonce and higher fees."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from channels_app.models import ChainOperation, ChainTransaction
from channels_app.services.operations import operation_create
from raidennode.chain.transactions import decode_transaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unmined_transaction_is_replaced_with_higher_fees(chain_env, make_node, settings, eager_celery):
    settings.RAIDEN_FEE_BUMP_AFTER = 0.5
    node = make_node(tokens=0)
    # Nothing is mined while automine is off: the node's transaction waits in the pool.
    chain_env.client.rpc("evm_setAutomine", [False])
    created: list = []

    def run() -> None:
        """Creates the operation; eager Celery runs it in this thread when the creation commits."""
        try:
            with transaction.atomic():
                op, _ = operation_create(
                    node=node,
                    kind=ChainOperation.Kind.TOKEN_MINT,
                    args={"token_address": chain_env.token, "value": "77", "to": node.address},
                    serial_key=f"mint:{node.address}",
                )
                created.append(op)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not ChainTransaction.objects.exclude(replaced_hashes=[]).exists():
            assert time.monotonic() < deadline, "the transaction was never replaced"
            time.sleep(0.1)
    finally:
        chain_env.client.rpc("evm_setAutomine", [True])
        chain_env.mine(1)
    thread.join(timeout=60)
    op = ChainOperation.objects.get(pk=created[0].pk)
    assert op.status == "succeeded", (op.error_code, op.error_message)
    tx = ChainTransaction.objects.get(operation=op)
    assert tx.status == "mined" and tx.replaced_hashes
    first, final = tx.replaced_hashes[0], tx.transaction_hash
    assert final != first and chain_env.client.receipt(final) is not None
    assert chain_env.client.receipt(first) is None  # the replaced version was never mined
    fields = decode_transaction(bytes.fromhex(tx.raw_transaction))
    assert fields["nonce"] == tx.nonce
    assert chain_env.token_balance(node.address) == 77
