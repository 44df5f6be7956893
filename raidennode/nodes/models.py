"""A node is one Ethereum account served by this deployment, owned by a user."""

from django.conf import settings
from django.db import models

from raidennode.fields import Uint256Field


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
    # API requests per minute this node accepts (429 above); null: no limit.
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
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


class ApiToken(models.Model):
    """A credential for one node's API (``Authorization: Token <key>`` or Basic with it as password).

    Only a SHA-256 digest of the key is stored: the key itself is shown once, when it is created
    (raidennode.nodes.tokens), and cannot be recovered from the database.
    """

    class Scope(models.TextChoices):
        READ = "read", "read-only (GET, HEAD, OPTIONS)"
        FULL = "full", "full"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    # hex SHA-256 of the key; the lookup on every authenticated request
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    # the key's first characters, so a user and the audit log can tell tokens apart
    key_prefix = models.CharField(max_length=12, editable=False)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.name or self.scope})"


class PaymentLimit(models.Model):
    """The largest single payment a node may send of one token (POST /payments answers 429 above)."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="payment_limits")
    token_address = models.CharField(max_length=42, help_text="EIP-55 checksummed token address")
    max_amount = Uint256Field(help_text="in the token's smallest unit")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["node", "token_address"], name="payment_limit_once")]

    def __str__(self) -> str:
        return f"{self.node}: {self.token_address} <= {self.max_amount}"


class AuditEntry(models.Model):
    """One state-changing API call: who, what, when, and the result. Append-only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    api_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # how the caller authenticated: "token <prefix>…", "session <username>" or "anonymous"
    actor = models.CharField(max_length=150)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    # the request body with secrets replaced by "<redacted>"
    body = models.JSONField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField()
    # the error message for a 4xx/5xx answer, empty for success
    result = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["node", "-created_at"], name="audit_node_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.method} {self.path} -> {self.status_code}"
