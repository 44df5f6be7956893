"""Where closing and settling find balance proofs, without channels_app importing transfers_app.

The off-chain state (payments, locks, balance proofs) lives in transfers_app, which sits above
channels_app. Closing needs the partner's latest balance proof and settling needs the preimages
of the balance hashes stored on chain, so channels_app asks a *source* named by the setting
``RAIDEN_BALANCE_PROOF_SOURCE``. Without payments there are no proofs: ``NoBalanceProofs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from raidennode.protocol.constants import EMPTY_HASH, LOCKSROOT_OF_NO_LOCKS


@dataclass(frozen=True)
class SignedBalanceProof:
    """A balance proof signed by its sender, with the signature bytes exactly as received."""

    nonce: int
    balance_hash: bytes
    additional_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class BalanceData:
    """The preimage of a balance hash: what settleChannel takes for one participant."""

    transferred_amount: int
    locked_amount: int
    locksroot: bytes


EMPTY_BALANCE_DATA = BalanceData(0, 0, LOCKSROOT_OF_NO_LOCKS)


class BalanceProofSource(Protocol):
    def partner_balance_proof(self, channel) -> SignedBalanceProof | None:
        """The partner's latest balance proof the node holds for ``channel``, if any."""

    def balance_data(self, channel, participant: str, balance_hash: bytes) -> BalanceData | None:
        """The (transferred, locked, locksroot) whose hash is ``balance_hash`` for ``participant``."""

    def locks(self, channel, sender: str, locksroot: bytes) -> list[bytes] | None:
        """The pending locks of ``sender`` (96-byte encodings, in order) whose root is ``locksroot``."""


class NoBalanceProofs:
    """The source of a node that has made no payments: every proof is the empty one."""

    def partner_balance_proof(self, channel) -> SignedBalanceProof | None:
        return None

    def balance_data(self, channel, participant: str, balance_hash: bytes) -> BalanceData | None:
        return EMPTY_BALANCE_DATA if balance_hash == EMPTY_HASH else None

    def locks(self, channel, sender: str, locksroot: bytes) -> list[bytes] | None:
        return [] if locksroot in (LOCKSROOT_OF_NO_LOCKS, EMPTY_HASH) else None


@cache
def _source(path: str) -> BalanceProofSource:
    source = import_string(path)
    return source() if isinstance(source, type) else source


def balance_proof_source() -> BalanceProofSource:
    return _source(getattr(settings, "RAIDEN_BALANCE_PROOF_SOURCE", "channels_app.balance_proofs.NoBalanceProofs"))
