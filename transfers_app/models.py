"""Payments, the protocol messages nodes exchange, and the node's log of state changes.

The channels' off-chain end states (nonces, transferred amounts, pending locks, the partner's
latest balance proof) live on channels_app.Channel, under that row's lock; this app keeps what
payments are made of: which node takes part in which payment (Payment), every message sent or
received with its delivery state (Message, also the history of the balance proofs we signed:
settling and unlocking look them up there), and an append-only StateChange log.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from channels_app.models import Channel, TokenNetwork
from raidennode.fields import AddressField, Uint256Field
from raidennode.nodes.models import Node


class Payment(models.Model):
    """One node's part in one payment (one row per node and secret hash)."""

    class Role(models.TextChoices):
        INITIATOR = "initiator"
        MEDIATOR = "mediator"
        TARGET = "target"

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="payments")
    role = models.CharField(max_length=16, choices=Role.choices)
    token_network = models.ForeignKey(TokenNetwork, on_delete=models.PROTECT, related_name="payments")
    payment_identifier = Uint256Field()
    initiator = AddressField()
    target = AddressField()
    # initiator: the amount the target is to receive; mediator and target: the incoming lock
    amount = Uint256Field()
    secrethash = models.CharField(max_length=66)
    secret = models.CharField(max_length=66, blank=True)
    expiration = models.PositiveBigIntegerField()
    payer_channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="incoming_payments"
    )
    payee_channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="outgoing_payments"
    )
    # The lock amount sent on to the next hop (initiator: amount plus fees).
    payee_amount = Uint256Field(null=True, blank=True, default=None)
    # transferred/locked of the balance proof that carried this payment's lock (pending_transfers)
    transfer_transferred = Uint256Field()
    transfer_locked = Uint256Field()
    route = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.TextField(blank=True)
    # progress markers of the flow
    secret_requested = models.BooleanField(default=False)
    secret_revealed = models.BooleanField(default=False)
    unlocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One role per node and secret hash: only a token swap gives a node two parts under one
            # hash (it pays with the hash as initiator and is paid with it as target).
            models.UniqueConstraint(
                fields=["node", "secrethash", "role"], name="payment_once_per_node_secrethash_role"
            ),
            # Raiden's in-flight registry: one pending payment per (target, identifier).
            models.UniqueConstraint(
                fields=["node", "target", "payment_identifier"],
                condition=Q(role="initiator", status="pending"),
                name="payment_identifier_in_flight_once",
            ),
        ]
        indexes = [
            models.Index(fields=["node", "role", "status"]),
            models.Index(fields=["node", "finished_at"]),
            models.Index(fields=["node", "target", "payment_identifier"]),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.payment_identifier} ({self.status})"


class Message(models.Model):
    """A protocol message between two nodes, signed, with its delivery state.

    Between co-hosted nodes one row is both the sender's outbox entry and the recipient's inbox
    entry: the recipient processes it and marks it processed in the same transaction as the
    state change it causes (that is the acknowledgement, and a second delivery finds it done).
    Rows of envelope messages we signed keep the balance proof's hash and the pending locks
    after it: settlement and unlock look them up by balance hash.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        REJECTED = "rejected"

    sender = AddressField()
    recipient = AddressField()
    sender_node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recipient_node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32)
    message_identifier = Uint256Field()
    payload = models.JSONField()
    # Envelope and withdraw messages: the channel and the sender's nonce (delivery in nonce order).
    token_network = models.ForeignKey(TokenNetwork, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel_identifier = Uint256Field(null=True, blank=True, default=None)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    balance_hash = models.CharField(max_length=66, blank=True)
    locks = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["sender", "token_network", "channel_identifier", "nonce"]),
            models.Index(fields=["sender", "token_network", "channel_identifier", "balance_hash"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sender} -> {self.recipient} ({self.status})"


class StateChange(models.Model):
    """Append-only: every change a node's state went through, in order (rows are never updated)."""

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="state_changes")
    kind = models.CharField(max_length=48)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["node", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} of node {self.node_id}"


class TokenSwap(models.Model):
    """A node's side of a token swap (the older API's PUT /token_swaps/<partner>/<identifier>).

    The maker pays ``sending_amount`` of ``sending_token`` to the taker with a lock on the hash of
    a secret only the maker knows; the taker, on seeing that lock, pays ``sending_amount`` of its
    ``sending_token`` back with a lock on the same hash; the maker reveals the secret only once the
    taker's lock has arrived as agreed, and each side's reveal unlocks both. Either both
    payments complete or both locks expire (transfers_app.services.swaps).
    """

    class Role(models.TextChoices):
        MAKER = "maker"
        TAKER = "taker"

    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        FAILED = "failed"

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="token_swaps")
    partner = AddressField()
    identifier = Uint256Field()
    role = models.CharField(max_length=8, choices=Role.choices)
    sending_token = AddressField()
    sending_amount = Uint256Field()
    receiving_token = AddressField()
    receiving_amount = Uint256Field()
    # the maker's secret (shown nowhere); the hash both payments lock on
    secret = models.CharField(max_length=66, blank=True, editable=False)
    secrethash = models.CharField(max_length=66, blank=True)
    # the maker's revealed the secret (the taker's lock was as agreed); the taker's lock is sent
    revealed = models.BooleanField(default=False)
    counter_sent = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "partner", "identifier"], name="token_swap_once"),
        ]
        indexes = [models.Index(fields=["status", "role"]), models.Index(fields=["node", "secrethash"])]

    def __str__(self) -> str:
        return f"{self.role} swap {self.identifier} with {self.partner} ({self.status})"
