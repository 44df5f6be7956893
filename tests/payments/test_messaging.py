"""Receiving is idempotent and refuses what it must refuse, changing nothing."""

from __future__ import annotations

import pytest

from channels_app.models import Channel
from transfers_app.models import Message, StateChange
from transfers_app.services.messaging import message_receive

from .conftest import channel_of, pay

pytestmark = pytest.mark.django_db(transaction=True)


def _copy(row: Message, **changes) -> Message:
    fields = {
        name: getattr(row, name)
        for name in (
            "sender",
            "recipient",
            "sender_node_id",
            "recipient_node_id",
            "kind",
            "message_identifier",
            "payload",
            "token_network_id",
            "channel_identifier",
            "nonce",
            "balance_hash",
            "locks",
        )
    }
    fields.update(changes)
    return Message.objects.create(**fields)


def _bob_end(bob) -> tuple:
    return Channel.objects.filter(node=bob).values_list("partner_nonce", "partner_transferred", "partner_locks").get()


def test_a_second_delivery_changes_nothing(pair, token):
    alice, bob, a, b = pair
    assert pay(a, token, bob, 10).status_code == 200
    unlock = Message.objects.get(kind="Unlock")
    before, logged = _bob_end(bob), StateChange.objects.count()
    message_receive(unlock.pk)
    assert _bob_end(bob) == before and StateChange.objects.count() == logged
    assert channel_of(b, token, alice)["balance"] == "110"


def test_a_replayed_balance_proof_is_rejected(pair, token):
    alice, bob, a, b = pair
    assert pay(a, token, bob, 10).status_code == 200
    replay = _copy(Message.objects.get(kind="Unlock"))
    before = _bob_end(bob)
    message_receive(replay.pk)
    replay.refresh_from_db()
    assert replay.status == "rejected" and "nonce" in replay.error
    assert _bob_end(bob) == before
    assert StateChange.objects.filter(node=bob, kind="message_rejected").count() == 1


def test_a_forged_signature_is_rejected(pair, token):
    alice, bob, a, b = pair
    assert pay(a, token, bob, 10).status_code == 200
    unlock = Message.objects.get(kind="Unlock")
    payload = dict(unlock.payload, transferred_amount="1000")  # more than was signed
    forged = _copy(unlock, payload=payload, nonce=unlock.nonce + 1)
    payload["nonce"] = str(unlock.nonce + 1)
    Message.objects.filter(pk=forged.pk).update(payload=payload)
    before = _bob_end(bob)
    message_receive(forged.pk)
    forged.refresh_from_db()
    assert forged.status == "rejected" and "signature" in forged.error
    assert _bob_end(bob) == before
    assert channel_of(b, token, alice)["balance"] == "110"
