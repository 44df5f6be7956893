"""Tokens, channels and the chain, as this deployment knows them.

``NetworkChannel`` is a channel as the chain shows it (every channel of every known token network,
co-hosted or not: the routing graph); ``Channel`` is one co-hosted node's side of a channel, with
what only that node knows (its reveal timeout, a close it has sent). The chain is the only writer
of the on-chain columns: they change when a confirmed event is applied, never on a receipt.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from raidennode.fields import AddressField, Uint256Field
from raidennode.nodes.models import Node


class Deployment(models.Model):
    """The chain and Raiden contracts this deployment serves (one row), and the ingestion cursor."""

    chain_id = models.PositiveBigIntegerField()
    genesis_hash = models.CharField(max_length=66, help_text="block 0 hash: tells chains apart")
    token_network_registry = AddressField(unique=True)
    secret_registry = AddressField()
    service_registry = AddressField(null=True, blank=True)
    user_deposit = AddressField(null=True, blank=True)
    monitoring_service = AddressField(null=True, blank=True)
    one_to_n = AddressField(null=True, blank=True)
    settlement_timeout_min = models.PositiveBigIntegerField()
    settlement_timeout_max = models.PositiveBigIntegerField()
    max_token_networks = Uint256Field()
    # Logs are ingested from start_block on; synced_block is the last block fully applied.
    start_block = models.PositiveBigIntegerField()
    synced_block = models.BigIntegerField()
    synced_block_hash = models.CharField(max_length=66, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"chain {self.chain_id}, registry {self.token_network_registry}"


class TokenNetwork(models.Model):
    token_address = AddressField(unique=True)
    address = AddressField(unique=True)
    created_block = models.PositiveBigIntegerField()
    deprecated = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.token_address} ({self.address})"


class NetworkChannel(models.Model):
    """A channel of a token network as its confirmed chain events describe it."""

    class State(models.TextChoices):
        OPENED = "opened"
        CLOSED = "closed"
        SETTLED = "settled"

    token_network = models.ForeignKey(TokenNetwork, on_delete=models.PROTECT, related_name="channels")
    identifier = Uint256Field()
    participant1 = AddressField()
    participant2 = AddressField()
    settle_timeout = models.PositiveBigIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPENED)
    participant1_deposit = Uint256Field()
    participant1_withdrawn = Uint256Field()
    participant2_deposit = Uint256Field()
    participant2_withdrawn = Uint256Field()
    opened_block = models.PositiveBigIntegerField()
    closed_block = models.PositiveBigIntegerField(null=True, blank=True)
    closing_participant = AddressField(null=True, blank=True)
    # The balance data close/update stored on chain for each participant (their own proof, as
    # submitted by the other side): what settlement must reproduce.
    participant1_nonce = Uint256Field()
    participant1_balance_hash = models.CharField(max_length=66, blank=True)
    participant2_nonce = Uint256Field()
    participant2_balance_hash = models.CharField(max_length=66, blank=True)
    settled_block = models.PositiveBigIntegerField(null=True, blank=True)
    participant1_settled_amount = Uint256Field(null=True, blank=True, default=None)
    participant2_settled_amount = Uint256Field(null=True, blank=True, default=None)
    participant1_locksroot = models.CharField(max_length=66, blank=True)
    participant2_locksroot = models.CharField(max_length=66, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["token_network", "identifier"], name="network_channel_unique"),
        ]
        indexes = [models.Index(fields=["token_network", "state"])]

    def __str__(self) -> str:
        return f"channel {self.identifier} of {self.token_network.address}"

    @property
    def settle_block(self) -> int | None:
        """The last block in which settlement is not yet allowed (settle needs a later block)."""
        if self.closed_block is None:
            return None
        return self.closed_block + self.settle_timeout

    def side(self, address: str) -> int:
        if address == self.participant1:
            return 1
        if address == self.participant2:
            return 2
        raise ValueError(f"{address} is not a participant of {self}")


def channel_api_state(chain_state: str, local_state: str) -> str:
    """The channel state as Raiden's API names it, from the chain's state and what we sent."""
    if chain_state == NetworkChannel.State.SETTLED:
        return "settled"
    if local_state == Channel.LocalState.UNUSABLE:
        return "channel_unusable"
    if chain_state == NetworkChannel.State.CLOSED:
        if local_state == Channel.LocalState.WAITING_FOR_SETTLE:
            return "waiting_for_settle"
        return "closed"
    if local_state == Channel.LocalState.WAITING_FOR_CLOSE:
        return "waiting_for_close"
    return "opened"


class Channel(models.Model):
    """One co-hosted node's channel: the node's view of a NetworkChannel it takes part in."""

    class LocalState(models.TextChoices):
        NONE = "", "none"
        WAITING_FOR_CLOSE = "waiting_for_close"
        WAITING_FOR_SETTLE = "waiting_for_settle"
        UNUSABLE = "channel_unusable"

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="channels")
    network_channel = models.ForeignKey(NetworkChannel, on_delete=models.PROTECT, related_name="node_channels")
    partner_address = AddressField()
    # True when this node is participant1 of the on-chain channel.
    is_participant1 = models.BooleanField()
    reveal_timeout = models.PositiveBigIntegerField()
    # What this node has sent and the chain has not confirmed yet; cleared by the confirming event.
    local_state = models.CharField(max_length=24, choices=LocalState.choices, blank=True, default="")

    # The off-chain end states (spec 4.5-4.6), changed by payments (transfers_app) under this
    # row's lock. Locks are [amount, expiration, "0x<secrethash>"] in insertion order (the
    # locksroot commits to that order); withdraws are pending off-chain withdraws
    # [total_withdraw, expiration, nonce]. Amounts inside JSON are decimal strings.
    our_nonce = models.PositiveBigIntegerField(default=0)
    our_transferred = Uint256Field()
    our_locked = Uint256Field()
    our_locks = models.JSONField(default=list, blank=True)
    our_withdraws = models.JSONField(default=list, blank=True)
    partner_nonce = models.PositiveBigIntegerField(default=0)
    partner_transferred = Uint256Field()
    partner_locked = Uint256Field()
    partner_locks = models.JSONField(default=list, blank=True)
    partner_withdraws = models.JSONField(default=list, blank=True)
    # The partner's latest balance proof, signature bytes exactly as received (closing and
    # updating counter-sign them): {"nonce", "transferred_amount", "locked_amount", "locksroot",
    # "balance_hash", "additional_hash", "signature"}.
    partner_balance_proof = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "network_channel"], name="channel_node_unique"),
        ]
        indexes = [models.Index(fields=["node", "partner_address"])]

    def __str__(self) -> str:
        return f"{self.node.address} - {self.partner_address} ({self.network_channel.identifier})"

    # The on-chain ends of the channel, seen from this node.
    @property
    def our_deposit(self) -> int:
        nc = self.network_channel
        return nc.participant1_deposit if self.is_participant1 else nc.participant2_deposit

    @property
    def partner_deposit(self) -> int:
        nc = self.network_channel
        return nc.participant2_deposit if self.is_participant1 else nc.participant1_deposit

    @property
    def our_withdrawn(self) -> int:
        nc = self.network_channel
        return nc.participant1_withdrawn if self.is_participant1 else nc.participant2_withdrawn

    @property
    def partner_withdrawn(self) -> int:
        nc = self.network_channel
        return nc.participant2_withdrawn if self.is_participant1 else nc.participant1_withdrawn

    @property
    def state(self) -> str:
        """The channel state as Raiden's API names it."""
        return channel_api_state(self.network_channel.state, self.local_state)


class ChainEvent(models.Model):
    """Every log of the registry, the secret registry and the token networks, stored once."""

    block_number = models.PositiveBigIntegerField()
    block_hash = models.CharField(max_length=66)
    transaction_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    address = AddressField(help_text="the contract that emitted the log")
    name = models.CharField(max_length=64)
    # Event arguments: integers as decimal strings, addresses checksummed, bytes as 0x hex.
    args = models.JSONField()
    token_network = models.ForeignKey(
        TokenNetwork, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    channel_identifier = Uint256Field(null=True, blank=True, default=None)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["block_number", "log_index"]
        constraints = [
            models.UniqueConstraint(fields=["transaction_hash", "log_index"], name="chain_event_once"),
        ]
        indexes = [
            models.Index(fields=["token_network", "channel_identifier", "block_number"]),
            models.Index(fields=["name", "block_number"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} @{self.block_number}"


class ChainOperation(models.Model):
    """The transaction outbox: one row per chain call a node makes, drained by a Celery task.

    A row is written in the same DB transaction as the state change that asks for it; the task
    claims it, signs and records each transaction before broadcasting it, and records the
    outcome. Operations that share a key (``serial_key`` or ``subject_key``, in either column) run
    one at a time, in creation order: ``serial_key`` names what the operation spends from (a
    node's token allowance), ``subject_key`` what it acts on (a channel, a pair of participants).
    """

    class Kind(models.TextChoices):
        TOKEN_REGISTER = "token_register"
        TOKEN_MINT = "token_mint"
        CHANNEL_OPEN = "channel_open"
        CHANNEL_DEPOSIT = "channel_deposit"
        CHANNEL_CLOSE = "channel_close"
        CHANNEL_SETTLE = "channel_settle"
        CHANNEL_WITHDRAW = "channel_withdraw"
        CHANNEL_UPDATE = "channel_update"
        CHANNEL_UNLOCK = "channel_unlock"
        CHANNEL_COOP_SETTLE = "channel_coop_settle"
        SECRET_REGISTER = "secret_register"
        UDC_DEPOSIT = "udc_deposit"
        UDC_PLAN_WITHDRAW = "udc_plan_withdraw"
        UDC_WITHDRAW = "udc_withdraw"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    LIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="chain_operations")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    args = models.JSONField(default=dict)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="chain_operations"
    )
    serial_key = models.CharField(max_length=200, db_index=True)
    subject_key = models.CharField(max_length=200, null=True, blank=True, db_index=True)
    # At most one live operation per dedupe key; a second identical request attaches to it.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The API status code family of a failure: see channels_app.services.errors.
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(status__in=["pending", "running"]),
                name="chain_operation_live_dedupe",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class ChainTransaction(models.Model):
    """One signed transaction of an operation, recorded before it is broadcast.

    The raw signed bytes are kept so that a restarted worker re-broadcasts exactly the same
    transaction (same nonce, same hash) instead of signing a conflicting one.
    """

    class Status(models.TextChoices):
        SIGNED = "signed"
        SENT = "sent"
        MINED = "mined"
        REVERTED = "reverted"
        DROPPED = "dropped"

    operation = models.ForeignKey(ChainOperation, on_delete=models.PROTECT, related_name="transactions")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="chain_transactions")
    step = models.CharField(max_length=32)
    nonce = models.PositiveBigIntegerField()
    transaction_hash = models.CharField(max_length=66)
    raw_transaction = models.TextField()
    # Earlier versions of this transaction (same nonce, lower fees) that a fee bump replaced;
    # any of them may still be the one that gets mined.
    replaced_hashes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SIGNED)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "step"], name="chain_transaction_step_once"),
            models.UniqueConstraint(
                fields=["node", "nonce"], condition=~Q(status="dropped"), name="chain_transaction_nonce_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step} nonce {self.nonce} ({self.status})"


class TokenNetworkConnection(models.Model):
    """A node's last connect to a token network (the older API's PUT /connections/<t>).

    What Raiden 0.x's ConnectionManager kept in memory: ``funds`` (reported by GET /connections)
    and the strategy that split them. ``joining_until`` is the lease of a connect in progress:
    connects of one node to one token network run one at a time (see services/connections.py).
    """

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="token_network_connections")
    token_network = models.ForeignKey(TokenNetwork, on_delete=models.PROTECT, related_name="connections")
    funds = Uint256Field()
    initial_channel_target = models.PositiveIntegerField(default=0)
    joinable_funds_target = models.DecimalField(max_digits=19, decimal_places=18, default=0)
    joining_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "token_network"], name="token_network_connection_once"),
        ]

    def __str__(self) -> str:
        return f"{self.node.address} in {self.token_network.token_address}: {self.funds}"
