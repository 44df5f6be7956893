"""Creating nodes and giving the rest of the node what it may have of a key: a signer.

Private keys are decrypted here and kept inside a NodeAccount, which signs protocol messages
(EIP-191, coincurve) and transactions; the key bytes are never returned to callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from raidennode.chain.transactions import SignedTransaction, sign_transaction
from raidennode.protocol.addresses import to_checksum_address
from raidennode.protocol.signing import Signer

from . import keys
from .models import Node


@dataclass(frozen=True)
class NodeAccount:
    """The signing capability of one node (its address and a closure over its key)."""

    address: str
    _key: bytes = field(repr=False)

    @property
    def signer(self) -> Signer:
        return Signer(self._key)

    def sign_message(self, data: bytes) -> bytes:
        """EIP-191 signature over ``data`` (balance proofs, counter-signatures, withdraws)."""
        return Signer(self._key).sign(data)

    def sign_transaction(self, **fields) -> SignedTransaction:
        return sign_transaction(self._key, **fields)


def node_create(*, owner=None, name: str = "", private_key: bytes | None = None) -> Node:
    """Creates a node with a new key (or the given one), stored encrypted.

    Raises ValueError when a node with that address already exists.
    """
    private_key = private_key or keys.private_key_generate()
    address = to_checksum_address(keys.address_of(private_key))
    with transaction.atomic():
        if Node.objects.filter(address=address).exists():
            raise ValueError(f"a node with address {address} already exists")
        return Node.objects.create(
            address=address, encrypted_key=keys.private_key_encrypt(private_key), owner=owner, name=name
        )


def node_account(node: Node) -> NodeAccount:
    return NodeAccount(node.address, keys.private_key_decrypt(node.encrypted_key))


def node_stop(node: Node) -> None:
    """Stops a node's API (503) and its duties; other nodes of the deployment go on."""
    Node.objects.filter(pk=node.pk).update(state=Node.State.STOPPED, stopped_at=timezone.now())
    node.state = Node.State.STOPPED


def node_start(node: Node) -> None:
    Node.objects.filter(pk=node.pk).update(state=Node.State.RUNNING, stopped_at=None)
    node.state = Node.State.RUNNING


def notification_set(node: Node, key: str, summary: str, body: str, urgency: str = "normal") -> None:
    """Stores a notification for the node's user; one per key, the newest replaces the older."""
    from .models import Notification

    Notification.objects.update_or_create(
        node=node, key=key, defaults={"summary": summary, "body": body, "urgency": urgency}
    )


def notifications_drain(node: Node) -> list[dict]:
    """The node's notifications (Raiden's wire shape), removed in the same transaction."""
    from .models import Notification

    with transaction.atomic():
        rows = list(Notification.objects.select_for_update().filter(node=node).order_by("id"))
        Notification.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return [{"id": row.key, "summary": row.summary, "body": row.body, "urgency": row.urgency} for row in rows]
