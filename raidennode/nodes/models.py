"""A node is one Ethereum account served by this deployment, owned by a user."""

from django.conf import settings
from django.db import models


class Node(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", "running"
        # POST /shutdown: the node's API answers 503 and its duties pause until an operator
        # starts it again (admin action or ``manage.py startnode``).
        STOPPED = "stopped", "stopped"

    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 checksummed address")
    # Fernet token of the 32-byte private key (raidennode.nodes.keys); never shown anywhere.
    encrypted_key = models.TextField(editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="nodes"
    )
    name = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    # Next transaction nonce this deployment will use for the account (see chain operations).
    next_nonce = models.PositiveBigIntegerField(default=0, editable=False)
    # Mediation fees this node charges (spec 4.8): per mediation, in token units; parts per
    # million of the amount; and the imbalance penalty (ppm of a channel's capacity, <= 50,000).
    mediation_fee_flat = models.PositiveBigIntegerField(default=0)
    mediation_fee_proportional = models.PositiveIntegerField(default=0)
    mediation_fee_imbalance = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(address__regex=r"^0x[0-9a-fA-F]{40}$"), name="node_address_hex"),
        ]

    def __str__(self) -> str:
        return self.name or self.address

    @property
    def is_running(self) -> bool:
        return self.state == self.State.RUNNING


class Notification(models.Model):
    """A message for a node's user (GET /notifications returns and clears them).

    One row per (node, key): a newer notification with the same key replaces the older one,
    as Raiden's notification dict does.
    """

    class Urgency(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        CRITICAL = "critical"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(max_length=64)
    summary = models.CharField(max_length=200)
    body = models.TextField()
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.NORMAL)
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["node", "key"], name="notification_key_once")]

    def __str__(self) -> str:
        return f"{self.key}: {self.summary}"
