"""Where closing, updating, settling and unlocking find balance proofs (channels_app asks here).

- the partner's latest balance proof: kept on the Channel row, signature as received;
- the preimage of a balance hash stored on chain: the partner's latest proof, or any envelope
  message either side signed on this channel (Message rows keep the balance hash);
- the ordered locks behind a locksroot: the lock snapshot kept with each envelope message.
"""

from __future__ import annotations

from channels_app.balance_proofs import EMPTY_BALANCE_DATA, BalanceData, SignedBalanceProof
from channels_app.models import Channel
from raidennode.protocol.constants import EMPTY_HASH, LOCKSROOT_OF_NO_LOCKS
from raidennode.protocol.messages import Lock

from .models import Message

ENVELOPES = ("LockedTransfer", "RefundTransfer", "Unlock", "LockExpired")


def _fresh(channel: Channel) -> Channel:
    return Channel.objects.select_related("network_channel__token_network").get(pk=channel.pk)


def _envelopes_of(channel: Channel, sender: str):
    nc = channel.network_channel
    return Message.objects.filter(
        sender=sender, token_network_id=nc.token_network_id, channel_identifier=nc.identifier, kind__in=ENVELOPES
    )


class MessageBalanceProofs:
    def partner_balance_proof(self, channel: Channel) -> SignedBalanceProof | None:
        proof = _fresh(channel).partner_balance_proof
        if not proof:
            return None
        return SignedBalanceProof(
            nonce=int(proof["nonce"]),
            balance_hash=bytes.fromhex(proof["balance_hash"][2:]),
            additional_hash=bytes.fromhex(proof["additional_hash"][2:]),
            signature=bytes.fromhex(proof["signature"][2:]),
        )

    def balance_data(self, channel: Channel, participant: str, balance_hash: bytes) -> BalanceData | None:
        if balance_hash == EMPTY_HASH:
            return EMPTY_BALANCE_DATA
        channel = _fresh(channel)
        hex_hash = "0x" + balance_hash.hex()
        proof = channel.partner_balance_proof
        if participant == channel.partner_address and proof and proof["balance_hash"] == hex_hash:
            return BalanceData(
                int(proof["transferred_amount"]), int(proof["locked_amount"]), bytes.fromhex(proof["locksroot"][2:])
            )
        row = _envelopes_of(channel, participant).filter(balance_hash=hex_hash).only("payload").first()
        if row is None:
            return None
        payload = row.payload
        return BalanceData(
            int(payload["transferred_amount"]), int(payload["locked_amount"]), bytes.fromhex(payload["locksroot"][2:])
        )

    def locks(self, channel: Channel, sender: str, locksroot: bytes) -> list[bytes] | None:
        if locksroot in (LOCKSROOT_OF_NO_LOCKS, EMPTY_HASH):
            return []
        channel = _fresh(channel)
        row = (
            _envelopes_of(channel, sender)
            .filter(payload__locksroot="0x" + locksroot.hex(), locks__isnull=False)
            .only("locks")
            .first()
        )
        if row is None:
            return None
        return [
            Lock(int(amount), int(expiration), bytes.fromhex(secrethash[2:])).encoded
            for amount, expiration, secrethash in row.locks
        ]
