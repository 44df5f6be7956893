"""The audit log: one AuditEntry per state-changing API call (who, what, when, result).

Written after the answer is known, whatever it is (success, refusal, error), in its own
autocommit statement, so a rolled-back service transaction cannot take the entry with it.
Secrets in request bodies (a payment's ``secret``, anything named like a key or password) are
stored as "<redacted>".
"""

from __future__ import annotations

import json
import logging

from .models import AuditEntry, Node

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"
# exact names: "secret_hash" and "token_address" are not secrets
SECRET_FIELDS = frozenset({"secret", "password", "private_key", "key", "api_key", "keystore"})
BODY_LIMIT = 16_384


def body_redacted(raw: bytes) -> object:
    """The JSON body with secret fields replaced; non-JSON bodies as a short note."""
    if not raw:
        return None
    if len(raw) > BODY_LIMIT:
        return {"_note": f"body of {len(raw)} bytes not stored"}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"_note": "body is not JSON"}
    return _redact(data)


def _redact(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")  # PostgreSQL's JSON refuses NUL characters
    if isinstance(value, dict):
        return {_redact(str(k)): REDACTED if str(k).lower() in SECRET_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def audit_record(
    *,
    node: Node | None,
    user_id: int | None,
    api_token_id: int | None,
    actor: str,
    method: str,
    path: str,
    raw_body: bytes,
    status_code: int,
    result: str,
    duration_ms: int,
) -> None:
    """Appends one entry. A failure to write is logged, never turned into an API error."""
    try:
        AuditEntry.objects.create(
            node=node,
            user_id=user_id,
            api_token_id=api_token_id,
            actor=actor[:150],
            method=method[:8],
            path=path[:500].replace("\x00", ""),
            body=body_redacted(raw_body),
            status_code=status_code,
            result=result.replace("\x00", "\\u0000"),
            duration_ms=duration_ms,
        )
    except Exception:  # the answer is already decided; losing an entry must be visible, not fatal
        logger.exception("could not write the audit entry for %s %s", method, path)
