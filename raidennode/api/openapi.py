"""The OpenAPI 3.0 document of REST API v1, written by hand as Python data.

The viewsets have no DRF serializers, so an automatic schema would know nothing of the bodies.
The document is built from three tables:

* ``SCHEMAS``: the JSON schemas of the objects (spec section 3) and of the request bodies;
* ``PARAMETERS``: path and query parameters, referenced by name;
* ``OPERATIONS``: one row per method and path (relative to ``/api/v1``), with its success and
  error answers. Answers every node resource can give (401, 403 on writes, 404, 429, 503) are
  added by ``build_document``.

tests/api/test_openapi.py checks that the operations match the URL configuration exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from raidennode.protocol.constants import RAIDEN_VERSION

OPENAPI_VERSION = "3.0.3"
API_PREFIX = "/api/v1"

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
HASH32_PATTERN = r"^0x[0-9a-fA-F]{64}$"
DECIMAL_PATTERN = r"^-?[0-9]+$"
# Python's int() also takes surrounding whitespace, "+", "_" separators and Unicode digits.
DECIMAL_INPUT_PATTERN = r"^\s*[-+]?[0-9]+(_[0-9]+)*\s*$"
UINT256_MAX = 2**256 - 1


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """``schema`` or JSON null (OpenAPI 3.0 spells it ``nullable`` next to a type)."""
    if "$ref" in schema:
        return {"nullable": True, "allOf": [schema]}
    return {**schema, "nullable": True}


def obj(properties: dict, required: tuple[str, ...] = (), closed: bool = True, **extra) -> dict:
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def integer_in(description: str) -> dict:
    """An optional integer of a request body: a number, a decimal string, or null (= omitted)."""
    return nullable({"allOf": [ref("IntegerInput")], "description": description})


ADDRESS_NOTE = "An EIP-55 checksummed address (mixed case exactly as EIP-55 gives it)."

SCHEMAS: dict[str, dict] = {
    # --- scalars ---------------------------------------------------------------------------------
    "Address": {"type": "string", "pattern": ADDRESS_PATTERN, "description": ADDRESS_NOTE},
    "Hash32": {"type": "string", "pattern": HASH32_PATTERN, "description": "0x and 64 hex digits (32 bytes)."},
    "IntegerString": {
        "type": "string",
        "pattern": DECIMAL_PATTERN,
        "description": "An integer written as a JSON string of decimal digits (how Raiden answers integers).",
        "example": "1000",
    },
    "IntegerInput": {
        "description": (
            "An integer as Raiden's API accepts it: a JSON number (a float is truncated) or a string "
            "of decimal digits (Python's int(): whitespace, '+', '_' allowed). Booleans are refused."
        ),
        "anyOf": [{"type": "integer"}, {"type": "string", "pattern": DECIMAL_INPUT_PATTERN}],
        "example": "1000",
    },
    "Error": {
        "type": "object",
        "required": ["errors"],
        "description": (
            "Every error. `errors` is a message string (most errors), an object of field errors "
            '(`{"field": ["message", ...]}`, nested for `paths`: 400 validation), or a list of '
            'strings (`["invalid endpoint", ...]` for an unknown path or a bad path address, '
            "`[message]` for an internal error). Malformed JSON and 405 also carry flask-restful's `message`."
        ),
        "properties": {
            "errors": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": True},
                    {"type": "array", "items": {"type": "string"}},
                ]
            },
            "message": {"type": "string"},
        },
    },
    # --- objects the node answers with (spec section 3) ------------------------------------------
    "OurAddress": obj({"our_address": ref("Address")}, ("our_address",)),
    "Version": obj({"version": {"type": "string", "example": RAIDEN_VERSION}}, ("version",)),
    "Settings": obj(
        {"pathfinding_service_address": nullable({"type": "string", "description": "RAIDEN_PFS_URL"})},
        ("pathfinding_service_address",),
    ),
    "Contracts": obj(
        {
            "contracts_version": {"type": "string", "example": "0.40.0"},
            "token_network_registry_address": ref("Address"),
            "secret_registry_address": ref("Address"),
            "service_registry_address": nullable(ref("Address")),
            "user_deposit_address": nullable(ref("Address")),
            "monitoring_service_address": nullable(ref("Address")),
            "one_to_n_address": nullable(ref("Address")),
        },
        (
            "contracts_version",
            "token_network_registry_address",
            "secret_registry_address",
            "service_registry_address",
            "user_deposit_address",
            "monitoring_service_address",
            "one_to_n_address",
        ),
    ),
    "Status": obj(
        {
            "status": {"type": "string", "enum": ["ready", "syncing", "unavailable"]},
            "blocks_to_sync": {"type": "integer", "description": "Only with `syncing`: a JSON number."},
        },
        ("status",),
    ),
    "ShutdownResult": obj({"status": {"type": "string", "enum": ["shutdown"]}}, ("status",)),
    "Notification": obj(
        {
            "id": {"type": "string", "example": "low_rdn"},
            "summary": {"type": "string"},
            "body": {"type": "string"},
            "urgency": {"type": "string", "example": "normal"},
        },
        ("id", "summary", "body", "urgency"),
    ),
    "Channel": obj(
        {
            "channel_identifier": ref("IntegerString"),
            "token_network_address": ref("Address"),
            "token_address": ref("Address"),
            "partner_address": ref("Address"),
            "settle_timeout": ref("IntegerString"),
            "reveal_timeout": ref("IntegerString"),
            "balance": ref("IntegerString"),
            "state": {
                "type": "string",
                "enum": ["opened", "waiting_for_close", "closed", "waiting_for_settle", "settled", "channel_unusable"],
            },
            "total_deposit": ref("IntegerString"),
            "total_withdraw": ref("IntegerString"),
            "network_state": {"type": "string", "example": "unknown"},
        },
        (
            "channel_identifier",
            "token_network_address",
            "token_address",
            "partner_address",
            "settle_timeout",
            "reveal_timeout",
            "balance",
            "state",
            "total_deposit",
            "total_withdraw",
            "network_state",
        ),
        description="A channel as this node sees it; `total_deposit` and `total_withdraw` are ours.",
    ),
    "Partner": obj(
        {
            "partner_address": ref("Address"),
            "channel": {
                "type": "string",
                "example": "/api/v1/channels/0x.../0x...",
                "description": "Path of the channel.",
            },
        },
        ("partner_address", "channel"),
    ),
    "TokenNetwork": obj(
        {
            "token_network_address": ref("Address"),
            "channel_manager_address": {"allOf": [ref("Address")], "description": "The older API's name for it."},
        },
        ("token_network_address",),
    ),
    "ConnectionInfo": {
        "type": "object",
        "description": "Tokens with at least one open channel, keyed by token address.",
        "additionalProperties": obj(
            {
                "funds": {
                    "allOf": [ref("IntegerString")],
                    "description": "The older API's key: the funds of the last connect (PUT), 0 without one.",
                },
                "sum_deposits": ref("IntegerString"),
                "channels": ref("IntegerString"),
            },
            ("sum_deposits", "channels"),
        ),
    },
    "ChainEvent": {
        "type": "object",
        "description": (
            "A confirmed chain event in the older API's shape: `event_type` (TokenAdded, ChannelNew, "
            "ChannelNewBalance, TransferUpdated, ChannelClosed, ChannelSettled, ...), the event's "
            "arguments under their contract names (integers as decimal strings) and `block_number`. "
            "The channel route also lists the node's payment events (v1's shapes plus `event_type`)."
        ),
        "required": ["event_type"],
        "properties": {"event_type": {"type": "string"}, "block_number": {"type": "integer"}},
        "additionalProperties": True,
    },
    "TokenSwap": obj(
        {
            "identifier": ref("IntegerString"),
            "partner_address": ref("Address"),
            "role": {"type": "string", "enum": ["maker", "taker"]},
            "sending_token": ref("Address"),
            "sending_amount": ref("IntegerString"),
            "receiving_token": ref("Address"),
            "receiving_amount": ref("IntegerString"),
            "secret_hash": nullable(ref("Hash32")),
            "status": {"type": "string", "enum": ["pending", "completed", "failed"]},
            "failure_reason": nullable({"type": "string"}),
        },
        (
            "identifier",
            "partner_address",
            "role",
            "sending_token",
            "sending_amount",
            "receiving_token",
            "receiving_amount",
            "secret_hash",
            "status",
            "failure_reason",
        ),
        description="One side of a token swap (the older API), amounts and tokens seen from this node.",
    ),
    "Payment": obj(
        {
            "initiator_address": ref("Address"),
            "target_address": ref("Address"),
            "token_address": ref("Address"),
            "amount": ref("IntegerString"),
            "identifier": ref("IntegerString"),
            "secret": ref("Hash32"),
            "secret_hash": ref("Hash32"),
        },
        ("initiator_address", "target_address", "token_address", "amount", "identifier", "secret", "secret_hash"),
    ),
    "PaymentEvent": {
        "description": "One payment of the history; `log_time` is ISO-8601 in UTC without an offset.",
        "oneOf": [
            obj(
                {
                    "event": {"type": "string", "enum": ["EventPaymentSentSuccess"]},
                    "amount": ref("IntegerString"),
                    "target": ref("Address"),
                    "identifier": ref("IntegerString"),
                    "log_time": {"type": "string"},
                    "token_address": ref("Address"),
                },
                ("event", "amount", "target", "identifier", "log_time", "token_address"),
            ),
            obj(
                {
                    "event": {"type": "string", "enum": ["EventPaymentSentFailed"]},
                    "reason": {"type": "string"},
                    "target": ref("Address"),
                    "log_time": {"type": "string"},
                    "token_address": ref("Address"),
                },
                ("event", "reason", "target", "log_time", "token_address"),
            ),
            obj(
                {
                    "event": {"type": "string", "enum": ["EventPaymentReceivedSuccess"]},
                    "amount": ref("IntegerString"),
                    "initiator": ref("Address"),
                    "identifier": ref("IntegerString"),
                    "log_time": {"type": "string"},
                    "token_address": ref("Address"),
                },
                ("event", "amount", "initiator", "identifier", "log_time", "token_address"),
            ),
        ],
    },
    "PendingTransfer": obj(
        {
            "payment_identifier": ref("IntegerString"),
            "token_address": ref("Address"),
            "token_network_address": ref("Address"),
            "channel_identifier": ref("IntegerString"),
            "initiator": ref("Address"),
            "target": ref("Address"),
            "transferred_amount": ref("IntegerString"),
            "locked_amount": ref("IntegerString"),
            "role": {"type": "string", "enum": ["initiator", "mediator", "target"]},
        },
        (
            "payment_identifier",
            "token_address",
            "token_network_address",
            "channel_identifier",
            "initiator",
            "target",
            "transferred_amount",
            "locked_amount",
            "role",
        ),
    ),
    "Transaction": obj({"transaction_hash": ref("Hash32")}, ("transaction_hash",)),
    "UserDepositResult": obj(
        {
            "transaction_hash": ref("Hash32"),
            "planned_withdraw_block_number": {
                "type": "integer",
                "description": "Only for a planned withdraw: a JSON number.",
            },
        },
        ("transaction_hash",),
    ),
    # --- request bodies: unknown keys give 400 "Unknown field."; null counts as omitted ----------
    "ChannelOpenRequest": obj(
        {
            "token_address": ref("Address"),
            "partner_address": ref("Address"),
            "settle_timeout": integer_in("Blocks; the node's RAIDEN_DEFAULT_SETTLE_TIMEOUT when omitted."),
            "reveal_timeout": integer_in("Blocks; the node's RAIDEN_DEFAULT_REVEAL_TIMEOUT when omitted."),
            "total_deposit": integer_in("Our total deposit after the open; no deposit when omitted or 0."),
        },
        ("token_address", "partner_address"),
    ),
    "ChannelPatchRequest": obj(
        {
            "total_deposit": integer_in("The new total deposit (must increase)."),
            "total_withdraw": integer_in("The new total withdraw (must increase)."),
            "reveal_timeout": integer_in("The new reveal timeout (local, no transaction)."),
            "state": {
                "type": "string",
                "enum": ["closed", "opened", "settled", None],
                "nullable": True,
                "description": '"closed" closes (a cooperative settle first); "settled" settles a closed channel.',
            },
        },
        description="Exactly one field may be non-null; two give 409, none give 400.",
    ),
    "RouteMetadata": obj(
        {
            "route": array(ref("Address"), description="The hops, ours first."),
            "address_metadata": {"type": "object", "additionalProperties": True},
            "fee": integer_in("The fee of this route."),
        },
        ("route", "address_metadata"),
    ),
    "PaymentRequest": obj(
        {
            "amount": {"allOf": [ref("IntegerInput")], "description": "The amount the target receives (> 0)."},
            "identifier": integer_in("Payment identifier, 1 to 2^64-1; random when omitted."),
            "secret": nullable({"allOf": [ref("Hash32")], "description": "The secret; generated when omitted."}),
            "secret_hash": nullable({"allOf": [ref("Hash32")], "description": "sha256 of the secret."}),
            "lock_timeout": integer_in("Blocks; reveal_timeout < lock_timeout <= settle_timeout."),
            "paths": nullable(array(ref("RouteMetadata"), description="Restricts the payment to these routes.")),
        },
        ("amount",),
    ),
    "UserDepositRequest": obj(
        {
            "total_deposit": integer_in("The new total deposit in the UserDeposit contract."),
            "planned_withdraw_amount": integer_in("Plans a withdraw of this amount."),
            "withdraw_amount": integer_in("Withdraws this (planned) amount."),
        },
        description="Exactly one field may be non-null.",
    ),
    "MintRequest": obj(
        {
            "to": ref("Address"),
            "value": {
                "allOf": [ref("IntegerInput")],
                "description": f"1 to 2^256-1 ({UINT256_MAX}).",
            },
        },
        ("to", "value"),
    ),
    "ConnectionConnectRequest": obj(
        {
            "funds": {"allOf": [ref("IntegerInput")], "description": "The tokens to put into the token network."},
            "initial_channel_target": integer_in("Channels to open (3 when omitted)."),
            "joinable_funds_target": nullable(
                {
                    "description": "The share of funds kept for channels others open with us (0.4 when omitted).",
                    "anyOf": [
                        {"type": "number"},
                        {"type": "string", "pattern": r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"},
                    ],
                }
            ),
        },
        ("funds",),
    ),
    "TokenSwapRequest": obj(
        {
            "role": {"type": "string", "enum": ["maker", "taker"]},
            "sending_amount": {"allOf": [ref("IntegerInput")], "description": "What this node sends (> 0)."},
            "sending_token": ref("Address"),
            "receiving_amount": {"allOf": [ref("IntegerInput")], "description": "What this node receives (> 0)."},
            "receiving_token": ref("Address"),
        },
        ("role", "sending_amount", "sending_token", "receiving_amount", "receiving_token"),
    ),
}

PARAMETERS: dict[str, dict] = {
    "token_address": {
        "name": "token_address",
        "in": "path",
        "required": True,
        "description": "A token address (EIP-55; anything else gives 404 before the method is looked at).",
        "schema": ref("Address"),
    },
    "partner_address": {
        "name": "partner_address",
        "in": "path",
        "required": True,
        "description": "The partner's address (EIP-55).",
        "schema": ref("Address"),
    },
    "target_address": {
        "name": "target_address",
        "in": "path",
        "required": True,
        "description": "The payment's target, or the partner to filter the history with (EIP-55).",
        "schema": ref("Address"),
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Most events to read (applied before filtering by token and partner); all when omitted.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "Events to skip; 0 when omitted.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "identifier": {
        "name": "identifier",
        "in": "path",
        "required": True,
        "description": "The swap's identifier, 1 to 2^64-1 (decimal digits).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "from_block": {
        "name": "from_block",
        "in": "query",
        "required": False,
        "description": "First block (inclusive); 0 when omitted.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "to_block": {
        "name": "to_block",
        "in": "query",
        "required": False,
        "description": "Last block (inclusive); no bound when omitted.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "format": {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "json (the default) or yaml.",
        "schema": {"type": "string", "enum": ["json", "yaml"]},
    },
}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


@dataclass(frozen=True)
class Operation:
    """One method on one path. ``ok`` maps success statuses to (description, schema)."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    ok: dict[int, tuple[str, dict | None]]  # None: no body (204)
    errors: dict[int, str] = field(default_factory=dict)
    body: str | None = None
    query: tuple[str, ...] = ()
    description: str = ""
    node: bool = True  # a node resource: authentication, the node prefix, the common errors
    content: dict | None = None  # the success content when it is not JSON

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


PAYMENT_QUERY = ("limit", "offset")
BLOCK_QUERY = ("from_block", "to_block")
BLOCK_QUERY_ERRORS = {400: "`from_block` or `to_block` not an integer or negative, an unknown query parameter."}
PAYMENT_LIST_ERRORS = {400: "`limit` or `offset` not an integer or negative, an unknown query parameter."}
TRANSACTION_ERRORS = {
    402: "Not enough ETH (or tokens) for the transaction.",
    408: "The transaction or its confirmation did not arrive in time; the node keeps watching it.",
    409: "The operation is not possible in the current state (the message says why).",
}

OPERATIONS: tuple[Operation, ...] = (
    # --- node --------------------------------------------------------------------------------------
    Operation("GET", "/address", "getAddress", "node", "The node's address", {200: ("Our address", ref("OurAddress"))}),
    Operation("GET", "/version", "getVersion", "node", "The Raiden version served", {200: ("Version", ref("Version"))}),
    Operation("GET", "/settings", "getSettings", "node", "The node's settings", {200: ("Settings", ref("Settings"))}),
    Operation(
        "GET",
        "/contracts",
        "getContracts",
        "node",
        "The contracts version and the deployment's addresses",
        {200: ("Contracts", ref("Contracts"))},
    ),
    Operation(
        "GET",
        "/status",
        "getStatus",
        "node",
        "Whether the node is ready",
        {200: ("Status", ref("Status"))},
        description="Answers while the node is not ready (every other resource answers 503 then).",
    ),
    Operation(
        "POST",
        "/shutdown",
        "shutdown",
        "node",
        "Stops this node",
        {200: ("The node stops; later requests get 503", ref("ShutdownResult"))},
        description="Stops this node only; other co-hosted nodes keep running. The body is ignored.",
    ),
    Operation(
        "GET",
        "/notifications",
        "getNotifications",
        "node",
        "Current notifications (and clears them)",
        {200: ("Notifications", array(ref("Notification")))},
    ),
    # --- tokens ------------------------------------------------------------------------------------
    Operation(
        "GET",
        "/tokens",
        "getTokens",
        "tokens",
        "Every token registered in the token network registry",
        {200: ("Token addresses", array(ref("Address")))},
    ),
    Operation(
        "GET",
        "/tokens/{token_address}",
        "getTokenNetwork",
        "tokens",
        "The token network of a token",
        {200: ("The token network address, a bare JSON string", ref("Address"))},
        {404: "No token network registered for the token."},
    ),
    Operation(
        "PUT",
        "/tokens/{token_address}",
        "registerToken",
        "tokens",
        "Registers a token (deploys its token network)",
        {201: ("Registered", ref("TokenNetwork"))},
        {
            **TRANSACTION_ERRORS,
            403: "The registry's maximum number of token networks is reached.",
            409: "Already registered, the null address, or not an ERC20 token.",
            501: "Disabled in production (RAIDEN_ENVIRONMENT=production).",
        },
        description="Blocks until the token network is seen. The body is ignored.",
    ),
    Operation(
        "GET",
        "/tokens/{token_address}/partners",
        "getPartners",
        "tokens",
        "Our partners in a token network",
        {200: ("Partners ([] for an unknown token)", array(ref("Partner")))},
    ),
    # --- channels ----------------------------------------------------------------------------------
    Operation(
        "GET", "/channels", "getChannels", "channels", "Our channels", {200: ("Channels", array(ref("Channel")))}
    ),
    Operation(
        "PUT",
        "/channels",
        "openChannel",
        "channels",
        "Opens a channel, optionally with a deposit",
        {
            201: ("Opened", ref("Channel")),
            200: ("A channel with the partner was already open (the deposit, if any, was made)", ref("Channel")),
        },
        TRANSACTION_ERRORS,
        body="ChannelOpenRequest",
        description="Blocks until the open (and the deposit) is mined and confirmed.",
    ),
    Operation(
        "GET",
        "/channels/{token_address}",
        "getChannelsOfToken",
        "channels",
        "Our channels in one token network",
        {200: ("Channels ([] for an unknown token)", array(ref("Channel")))},
    ),
    Operation(
        "GET",
        "/channels/{token_address}/{partner_address}",
        "getChannel",
        "channels",
        "Our channel with a partner",
        {200: ("The channel", ref("Channel"))},
        {404: "No such channel."},
    ),
    Operation(
        "PATCH",
        "/channels/{token_address}/{partner_address}",
        "updateChannel",
        "channels",
        "Deposits, withdraws, changes the reveal timeout, closes or settles",
        {200: ("The updated channel, or null when it was settled cooperatively", nullable(ref("Channel")))},
        {
            **TRANSACTION_ERRORS,
            400: "Nothing to do (every field null).",
            409: "Two fields at once, a negative amount, no such channel, or not possible in the channel's state.",
        },
        body="ChannelPatchRequest",
    ),
    # --- connections -------------------------------------------------------------------------------
    Operation(
        "GET",
        "/connections",
        "getConnections",
        "connections",
        "Open channels and deposits per token",
        {200: ("Per token", ref("ConnectionInfo"))},
    ),
    Operation(
        "DELETE",
        "/connections/{token_address}",
        "leaveTokenNetwork",
        "connections",
        "Closes every channel of a token network",
        {200: ("The channels after the close (null for a cooperatively settled one)", array(nullable(ref("Channel"))))},
        {**TRANSACTION_ERRORS, 404: "The token is not registered."},
        description="Blocks until every channel is closed. The body is ignored.",
    ),
    Operation(
        "PUT",
        "/connections/{token_address}",
        "joinTokenNetwork",
        "connections",
        "Opens and funds channels in a token network (the older API's connect)",
        {204: ("Every open and deposit is confirmed", None)},
        TRANSACTION_ERRORS,
        body="ConnectionConnectRequest",
        description="Not in Raiden 3.0.1 (405 there). Blocks until every open and deposit is confirmed.",
    ),
    # --- payments ----------------------------------------------------------------------------------
    Operation(
        "GET",
        "/payments",
        "getPayments",
        "payments",
        "Payment history",
        {200: ("Payment events, oldest first", array(ref("PaymentEvent")))},
        PAYMENT_LIST_ERRORS,
        query=PAYMENT_QUERY,
    ),
    Operation(
        "GET",
        "/payments/{token_address}",
        "getPaymentsOfToken",
        "payments",
        "Payment history of one token",
        {200: ("Payment events, oldest first", array(ref("PaymentEvent")))},
        {400: PAYMENT_LIST_ERRORS[400] + " The token has no token network."},
        query=PAYMENT_QUERY,
    ),
    Operation(
        "GET",
        "/payments/{token_address}/{target_address}",
        "getPaymentsWithPartner",
        "payments",
        "Payment history of one token with one partner",
        {200: ("Payment events, oldest first", array(ref("PaymentEvent")))},
        {400: PAYMENT_LIST_ERRORS[400] + " The token has no token network."},
        query=PAYMENT_QUERY,
    ),
    Operation(
        "POST",
        "/payments/{token_address}/{target_address}",
        "pay",
        "payments",
        "Sends a payment",
        {200: ("The payment succeeded", ref("Payment"))},
        {
            402: "Insufficient balance.",
            408: "A withdraw or transaction did not finish in time.",
            409: "The payment could not be made (the message says why), or its identifier is in flight.",
            429: "The amount exceeds the node's largest payment of this token.",
        },
        body="PaymentRequest",
        description="Blocks until the payment succeeded or failed.",
    ),
    Operation(
        "POST",
        "/transfers/{token_address}/{target_address}",
        "transfer",
        "payments",
        "Sends a payment (the older API's name)",
        {200: ("The payment succeeded", ref("Payment"))},
        {
            402: "Insufficient balance.",
            408: "A withdraw or transaction did not finish in time.",
            409: "The payment could not be made (the message says why), or its identifier is in flight.",
            429: "The amount exceeds the node's largest payment of this token.",
        },
        body="PaymentRequest",
        description="The same resource as POST /payments/{token_address}/{target_address}.",
    ),
    Operation(
        "GET",
        "/pending_transfers",
        "getPendingTransfers",
        "payments",
        "Transfers in flight",
        {200: ("Pending transfers", array(ref("PendingTransfer")))},
    ),
    Operation(
        "GET",
        "/pending_transfers/{token_address}",
        "getPendingTransfersOfToken",
        "payments",
        "Transfers in flight of one token",
        {200: ("Pending transfers", array(ref("PendingTransfer")))},
        {404: "The token has no token network."},
    ),
    Operation(
        "GET",
        "/pending_transfers/{token_address}/{partner_address}",
        "getPendingTransfersOfChannel",
        "payments",
        "Transfers in flight of one channel",
        {200: ("Pending transfers", array(ref("PendingTransfer")))},
        {404: "The token has no token network, or there is no channel with the partner."},
    ),
    # --- UserDeposit contract ----------------------------------------------------------------------
    Operation(
        "POST",
        "/user_deposit",
        "userDeposit",
        "user_deposit",
        "Deposits to, plans a withdraw from, or withdraws from the UserDeposit contract",
        {200: ("The transaction", ref("UserDepositResult"))},
        {
            **TRANSACTION_ERRORS,
            400: "Two fields at once, or nothing to do (every field null).",
            404: "No UDC configured.",
        },
        body="UserDepositRequest",
    ),
    # --- the older API (seed 002) -----------------------------------------------------------------
    Operation(
        "GET",
        "/events/network",
        "getNetworkEvents",
        "events",
        "TokenAdded events of the registry (older API)",
        {200: ("Events, in chain order", array(ref("ChainEvent")))},
        BLOCK_QUERY_ERRORS,
        query=BLOCK_QUERY,
    ),
    Operation(
        "GET",
        "/events/tokens/{token_address}",
        "getTokenEvents",
        "events",
        "ChannelNew events of a token network (older API)",
        {200: ("Events, in chain order", array(ref("ChainEvent")))},
        {**BLOCK_QUERY_ERRORS, 404: "No token network registered for the token."},
        query=BLOCK_QUERY,
    ),
    Operation(
        "GET",
        "/events/channels/{token_address}/{partner_address}",
        "getChannelEvents",
        "events",
        "Chain and payment events of our channels with a partner (older API)",
        {200: ("Events, in the order the node recorded them", array(ref("ChainEvent")))},
        {**BLOCK_QUERY_ERRORS, 404: "No token network for the token, or we never had a channel with the partner."},
        query=BLOCK_QUERY,
    ),
    Operation(
        "PUT",
        "/token_swaps/{target_address}/{identifier}",
        "registerTokenSwap",
        "token_swaps",
        "Registers our side of a token swap with a partner (older API)",
        {
            201: ("Registered (a maker's payment has started)", ref("TokenSwap")),
            200: ("The same swap was registered already", ref("TokenSwap")),
        },
        {
            400: "Amounts not positive, the same token twice, or the identifier out of range.",
            409: "The partner is us, or a swap with this identifier has other terms.",
        },
        body="TokenSwapRequest",
        description="The swap completes (or every lock expires) on its own; GET tells how it is doing.",
    ),
    Operation(
        "GET",
        "/token_swaps/{target_address}/{identifier}",
        "getTokenSwap",
        "token_swaps",
        "A token swap (older API)",
        {200: ("The swap", ref("TokenSwap"))},
        {404: "No token swap with this partner and identifier."},
    ),
    # --- development only --------------------------------------------------------------------------
    Operation(
        "POST",
        "/_testing/tokens/{token_address}/mint",
        "mintTokens",
        "testing",
        "Mints test tokens (development only)",
        {200: ("The mint transaction", ref("Transaction"))},
        {
            **TRANSACTION_ERRORS,
            400: "The mint failed.",
            501: "Disabled in production (RAIDEN_ENVIRONMENT=production).",
        },
        body="MintRequest",
        description="Calls the token's mintFor(value, to). Blocks until mined.",
    ),
    # --- this document -----------------------------------------------------------------------------
    Operation(
        "GET",
        "/schema",
        "getSchema",
        "meta",
        "This OpenAPI document",
        {200: ("The document", {"type": "object"})},
        {400: "An unknown format."},
        query=("format",),
        node=False,
        content={
            "application/vnd.oai.openapi+json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
        description="Served at /api/v1/schema only; no credentials needed.",
    ),
    Operation(
        "GET",
        "/docs",
        "getDocs",
        "meta",
        "This document as an HTML page",
        {200: ("The page", {"type": "string"})},
        node=False,
        content={"text/html": {"schema": {"type": "string"}}},
        description="Served at /api/v1/docs only; no credentials needed.",
    ),
)

TAGS = (
    ("node", "The node itself"),
    ("tokens", "Tokens and token networks"),
    ("channels", "Payment channels"),
    ("connections", "All channels of a token network"),
    ("payments", "Payments and transfers in flight"),
    ("user_deposit", "The UserDeposit contract (monitoring and pathfinding fees)"),
    ("events", "Chain events (the older API, seed 002)"),
    ("token_swaps", "Token swaps (the older API, seed 002)"),
    ("testing", "Development only"),
    ("meta", "This document"),
)

# Answers every node resource can give, whatever the operation.
NODE_ERRORS = {
    401: "No or invalid credentials (RAIDEN_AUTH on); the WWW-Authenticate header names the schemes.",
    404: (
        'A path address that is not EIP-55 (`["invalid endpoint", ...]`), or a node that is not hosted '
        "here or belongs to another user (with the /nodes/{node_address} prefix)."
    ),
    429: "The node's limit of API requests per minute is reached; see Retry-After.",
    503: "The node is not ready yet, is shutting down, or the Ethereum node is unreachable.",
}
WRITE_ERRORS = {403: "A read-only API token on a request that changes something."}
BODY_ERRORS = {400: 'Not a JSON object ("JSON payload expected"), malformed JSON, or field errors.'}
RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Token, or Basic realm=raiden."}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the next minute."}},
}

DESCRIPTION = f"""\
Raiden's REST API v1 (Raiden {RAIDEN_VERSION}) as served by this node, which hosts many Raiden nodes.

**Base URLs.** The paths below are relative to a node's API prefix:

* `/nodes/{{node_address}}/api/v1` — one co-hosted node, by its EIP-55 address;
* `/api/v1` — the default node (with RAIDEN_AUTH on: the node of the API token, or the session
  user's chosen node);
* `/api/1` and `/nodes/{{node_address}}/api/1` serve the same routes (the older API's prefix).

This document and its HTML page are served at `/api/v1/schema` and `/api/v1/docs` only.

**Wire format.** Integers are answered as JSON strings of decimal digits and accepted as JSON
numbers or decimal strings; addresses are EIP-55 checksummed, in and out. Errors are
`{{"errors": ...}}` (see the Error schema). Request bodies must be `application/json` (or
`application/*+json`) objects; unknown fields give 400. Paths have no trailing slash. HEAD is
answered on every GET route and OPTIONS on every route (not listed).

**Authentication** (setting RAIDEN_AUTH, on by default): `Authorization: Token <key>` with an API
token of the node, HTTP Basic with the key as the password (any user name), or the session of a
logged-in user (the WebUI; CSRF checked on writes). Without credentials: 401. A node of another
user answers 404, as one that is not hosted. A read-only token gets 403 on writes. Per-node
request limits answer 429. With RAIDEN_AUTH off no credentials are needed.
"""


def _path_parameters(path: str) -> list[dict]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in re.findall(r"{(\w+)}", path)]


def _error_response(description: str, status: int) -> dict:
    response = {"description": description, "content": json_content(ref("Error"))}
    if status in RESPONSE_HEADERS:
        response["headers"] = RESPONSE_HEADERS[status]
    return response


def _merge(*tables: dict[int, str]) -> dict[int, str]:
    """Error descriptions by status; a later table's text is appended to an earlier one's."""
    merged: dict[int, str] = {}
    for table in tables:
        for status, text in table.items():
            merged[status] = f"{merged[status]} {text}" if status in merged and merged[status] != text else text
    return merged


def _operation(op: Operation) -> dict:
    parameters = _path_parameters(op.path) + [{"$ref": f"#/components/parameters/{name}"} for name in op.query]
    responses: dict[str, dict] = {}
    for status, (description, schema) in sorted(op.ok.items()):
        responses[str(status)] = {"description": description}
        if op.content or schema is not None:
            responses[str(status)]["content"] = op.content or json_content(schema)
    common = NODE_ERRORS if op.node else {}
    errors = _merge(BODY_ERRORS if op.body else {}, op.errors, WRITE_ERRORS if op.node and op.writes else {}, common)
    for status, description in sorted(errors.items()):
        responses[str(status)] = _error_response(description, status)
    operation = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.description:
        operation["description"] = op.description
    if op.body:
        operation["requestBody"] = {
            "required": True,
            "content": json_content(ref(op.body)),
        }
    if not op.node:
        operation["security"] = []  # no credentials, no node
    if not parameters:
        del operation["parameters"]
    return operation


@lru_cache(maxsize=2)
def _document(auth: bool) -> dict:
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    security = [{"TokenAuth": []}, {"BasicAuth": []}, {"SessionAuth": []}]
    if not auth:
        security.append({})  # RAIDEN_AUTH off: credentials are optional (and ignored)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Raiden node REST API v1",
            "version": RAIDEN_VERSION,
            "description": DESCRIPTION,
        },
        "servers": [
            {"url": API_PREFIX, "description": "The default node (or the node of the API token)"},
            {
                "url": "/nodes/{node_address}/api/v1",
                "description": "One co-hosted node",
                "variables": {
                    "node_address": {
                        "default": "0x0000000000000000000000000000000000000000",
                        "description": "The node's EIP-55 address.",
                    }
                },
            },
        ],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "security": security,
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "securitySchemes": {
                "TokenAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Authorization: Token <key>` (or `Bearer <key>`) with an API token of the node.",
                },
                "BasicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "HTTP Basic: any user name, the API token key as the password.",
                },
                "SessionAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "The session of a logged-in user (the WebUI); writes need the X-XSRF-TOKEN header.",
                },
            },
        },
    }


def build_document(auth: bool = True) -> dict:
    """The OpenAPI document; ``auth`` is settings.RAIDEN_AUTH (off: credentials are optional).

    The result is shared: callers must not change it.
    """
    return _document(bool(auth))
