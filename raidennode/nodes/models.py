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
