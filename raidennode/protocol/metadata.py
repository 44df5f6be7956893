"""Route metadata of a LockedTransfer and its hash (spec section 4.4).

The metadata is a JSON object::

    {"routes": [{"route": [addr, ...], "address_metadata": {addr: {...}}}, ...], "secret": "0x..."}

``route`` lists the whole path, initiator first and target last. Its hash is part of the
LockedTransfer's signed ``message_hash``, computed over the *canonical JSON* of the object exactly as
received: keys sorted, no spaces, UTF-8, non-ASCII not escaped (the ``canonicaljson`` package the
reference client uses). Unknown keys (``secret``, extra address metadata, anything a future client
adds) are part of the hash, so a mediator must forward the received object untouched.
"""

from __future__ import annotations

import json

from .addresses import to_checksum_address
from .hashing import keccak256

_canonical_encoder = json.JSONEncoder(
    skipkeys=False,
    ensure_ascii=False,
    check_circular=True,
    allow_nan=False,  # as canonicaljson: NaN/Infinity are not JSON
    sort_keys=True,
    separators=(",", ":"),
)


def route_metadata(route: list[str], address_metadata: dict | None = None) -> dict:
    """The metadata of a transfer along one route, as an initiator builds it.

    The addresses are used as given (the reference client writes lowercase hex; pass lowercase
    strings to reproduce its bytes). ``address_metadata`` maps an address to its
    ``{"user_id", "displayname", "capabilities"}``; the key is present (``{}``) without it, as the
    reference emits it.
    """
    return {"routes": [{"route": list(route), "address_metadata": address_metadata or {}}]}


def canonical_json(value) -> bytes:
    """Canonical JSON bytes: sorted keys, separators ``,`` and ``:``, UTF-8 without escaping.

    Raises ValueError (NaN, a lone surrogate that UTF-8 cannot encode) or TypeError (a value
    JSON cannot represent).
    """
    return _canonical_encoder.encode(value).encode("utf-8")


def metadata_hash(metadata: dict) -> bytes:
    """keccak256 of the canonical JSON of the metadata object."""
    return keccak256(canonical_json(metadata))


def metadata_routes(metadata: dict) -> list[list[str]]:
    """The address lists of the metadata's routes, as EIP-55 addresses.

    Returns ``[]`` when the metadata is malformed anywhere in its routes (not an object, no
    ``routes`` list, a route that is not an object with a non-empty ``route`` list of hex
    addresses): such a transfer has no usable route, and mediators and targets ignore it.
    Other keys (``address_metadata``, ``secret``, unknown ones) are not looked at.
    """
    if not isinstance(metadata, dict):
        return []
    routes = metadata.get("routes")
    if not isinstance(routes, list):
        return []
    result: list[list[str]] = []
    for entry in routes:
        if not isinstance(entry, dict):
            return []
        route = entry.get("route")
        if not isinstance(route, list) or not route:
            return []
        addresses = []
        for address in route:
            if not isinstance(address, str):
                return []
            try:
                addresses.append(to_checksum_address(address))
            except ValueError:
                return []
        result.append(addresses)
    return result
