"""The contract of a transport, shaped after Raiden's Matrix transport (spec matrix_transport.md).

A transport moves signed protocol messages between nodes. It delivers at least once and retries
until the recipient acknowledges; the receiving side is idempotent, so duplicates are harmless.
Acknowledgement is the recipient having processed the message (Raiden's Processed/Delivered):
between co-hosted nodes that is a database write in the recipient's own state transaction; over
Matrix it is the Processed/Delivered message from the peer.

The node hands a transport *envelopes* of messages that are already committed to its outbox, so
a crash never loses a message that a state change promised, and the transport hands received
messages to the node's ``deliver`` callback. Which transport serves an address is decided by
``reachable``: the local transport reaches co-hosted nodes only; a Matrix transport would reach
any address with a verified Matrix identity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Envelope:
    """One committed outgoing message: the outbox row it came from and its signed wire form."""

    message_id: int
    sender: str
    recipient: str
    payload: dict


class DeliveryRefused(Exception):
    """The recipient cannot take the message now (stopped, unknown); try again later."""


class Transport(ABC):
    @abstractmethod
    def reachable(self, address: str) -> bool:
        """Whether this transport can deliver to ``address`` at all."""

    @abstractmethod
    def send(self, envelopes: Sequence[Envelope]) -> None:
        """Delivers committed messages, at least once. Must be called after the commit."""
