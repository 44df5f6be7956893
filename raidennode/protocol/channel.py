"""Channel end states and the rules for changing them (spec 4.5-4.7, invariants of section 5).

Pure: a function takes a ChannelState and returns a new one (plus the balance proof to sign, for
our own changes) or raises. ``our`` is the end of the node applying the rules, ``partner`` the
other participant. Nothing here signs, stores or sends: services do, around these functions.

Money rules enforced here (spec section 5): our nonce increases by exactly one per signed
message; transferred_amount never decreases; locked_amount is the sum of the pending locks and
the locksroot commits to exactly those locks in insertion order; nothing is locked beyond the
distributable balance; a partner's balance proof is accepted only if it changes exactly what
its message type allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .constants import UINT64_MAX, UINT256_MAX
from .hashing import sha256
from .messages import BalanceProof, Lock
from .packing import compute_locksroot

MAXIMUM_PENDING_TRANSFERS = 160


class ChannelError(ValueError):
    """A change of our own end that the rules forbid (no capacity, channel closed, ...)."""


class InvalidBalanceProof(ValueError):
    """A partner's message whose balance proof or fields break the rules; it must be ignored."""


class NonceGap(InvalidBalanceProof):
    """A partner's message whose nonce is ahead of the next expected one: an earlier message
    has not arrived yet, so this one must wait (it is not invalid)."""


def _check_next_nonce(nonce: int, partner: EndState) -> None:
    if nonce > partner.nonce + 1:
        raise NonceGap(f"nonce {nonce} arrived before {partner.nonce + 1}")
    if nonce != partner.nonce + 1:
        raise InvalidBalanceProof(f"nonce {nonce} is not the next one ({partner.nonce + 1})")


@dataclass(frozen=True, slots=True)
class PendingWithdraw:
    """An off-chain withdraw that was requested and has not expired or reached the chain."""

    total_withdraw: int
    expiration: int
    nonce: int


@dataclass(frozen=True, slots=True)
class EndState:
    """One participant's end of a channel, as the other side can prove it."""

    address: str
    deposit: int = 0
    withdrawn: int = 0  # on chain
    nonce: int = 0  # highest nonce this participant has signed for the channel
    transferred: int = 0
    locks: tuple[Lock, ...] = ()
    withdraws: tuple[PendingWithdraw, ...] = ()

    @property
    def locked_amount(self) -> int:
        return sum(lock.amount for lock in self.locks)

    @property
    def locksroot(self) -> bytes:
        return compute_locksroot(lock.encoded for lock in self.locks)

    @property
    def offchain_withdraw(self) -> int:
        return max((w.total_withdraw for w in self.withdraws), default=0)

    @property
    def total_withdraw(self) -> int:
        return max(self.offchain_withdraw, self.withdrawn)

    def lock_for(self, secrethash: bytes) -> Lock | None:
        for lock in self.locks:
            if lock.secrethash == secrethash:
                return lock
        return None

    def without_lock(self, lock: Lock) -> tuple[Lock, ...]:
        locks = list(self.locks)
        locks.remove(lock)
        return tuple(locks)


@dataclass(frozen=True, slots=True)
class ChannelState:
    chain_id: int
    token_network_address: str
    channel_identifier: int
    settle_timeout: int
    reveal_timeout: int
    is_open: bool
    our: EndState
    partner: EndState

    def balance_proof_of(self, end: EndState) -> BalanceProof:
        return BalanceProof(
            chain_id=self.chain_id,
            token_network_address=self.token_network_address,
            channel_identifier=self.channel_identifier,
            nonce=end.nonce,
            transferred_amount=end.transferred,
            locked_amount=end.locked_amount,
            locksroot=end.locksroot,
        )


# --- balances -------------------------------------------------------------------------------------


def balance(sender: EndState, receiver: EndState) -> int:
    """What ``sender`` owns in the channel: deposit - withdraws - sent + received (locks not subtracted)."""
    return sender.deposit - sender.total_withdraw - sender.transferred + receiver.transferred


def distributable(sender: EndState, receiver: EndState) -> int:
    """What ``sender`` may still lock: its balance minus its pending locks, within uint256."""
    available = balance(sender, receiver) - sender.locked_amount
    return max(0, min(available, UINT256_MAX - sender.transferred - sender.locked_amount))


# --- timing ---------------------------------------------------------------------------------------


def initial_expiration(block: int, reveal_timeout: int, lock_timeout: int | None = None) -> int:
    """The expiration block an initiator gives a new lock (spec 4.7, get_safe_initial_expiration)."""
    return block + (lock_timeout or 2 * reveal_timeout) - 1


def lock_timeout_usable(lock_timeout: int, reveal_timeout: int, settle_timeout: int) -> bool:
    return reveal_timeout < lock_timeout <= settle_timeout


def is_safe_to_wait(expiration: int, block: int, reveal_timeout: int) -> bool:
    """Whether a lock leaves enough blocks to register its secret on chain if needed."""
    return expiration - block > reveal_timeout


def may_forward(expiration: int, block: int, reveal_timeout: int, settle_timeout: int) -> bool:
    """Whether a mediator may forward a lock with ``expiration`` on a payee channel."""
    return reveal_timeout < expiration - block <= settle_timeout


# --- our own changes ------------------------------------------------------------------------------


def _check_open(channel: ChannelState) -> None:
    if not channel.is_open:
        raise ChannelError("the channel is not open")


def _next_our(channel: ChannelState, our: EndState) -> tuple[ChannelState, BalanceProof]:
    if our.nonce > UINT64_MAX:
        raise ChannelError("the channel's nonces are exhausted")
    new = replace(channel, our=our)
    return new, new.balance_proof_of(our)


def send_lock(channel: ChannelState, lock: Lock) -> tuple[ChannelState, BalanceProof]:
    """Adds a lock to our end: the balance proof of the LockedTransfer that carries it."""
    _check_open(channel)
    our = channel.our
    if lock.amount <= 0:
        raise ChannelError("the amount must be positive")
    if lock.amount > distributable(our, channel.partner):
        raise ChannelError(
            f"insufficient capacity: {distributable(our, channel.partner)} available, {lock.amount} needed"
        )
    if len(our.locks) >= MAXIMUM_PENDING_TRANSFERS:
        raise ChannelError(f"the channel already has {MAXIMUM_PENDING_TRANSFERS} pending transfers")
    if any(existing.encoded == lock.encoded for existing in our.locks):
        raise ChannelError("the same lock is already pending")
    return _next_our(channel, replace(our, nonce=our.nonce + 1, locks=our.locks + (lock,)))


def send_unlock(channel: ChannelState, secrethash: bytes) -> tuple[ChannelState, BalanceProof, Lock]:
    """Turns our pending lock into a transfer: the balance proof of the Unlock message."""
    our = channel.our
    lock = our.lock_for(secrethash)
    if lock is None:
        raise ChannelError("no pending lock with that secret hash")
    new, proof = _next_our(
        channel,
        replace(our, nonce=our.nonce + 1, transferred=our.transferred + lock.amount, locks=our.without_lock(lock)),
    )
    return new, proof, lock


def send_lock_expired(channel: ChannelState, secrethash: bytes) -> tuple[ChannelState, BalanceProof, Lock]:
    """Removes our expired lock, transferring nothing: the balance proof of LockExpired."""
    our = channel.our
    lock = our.lock_for(secrethash)
    if lock is None:
        raise ChannelError("no pending lock with that secret hash")
    new, proof = _next_our(channel, replace(our, nonce=our.nonce + 1, locks=our.without_lock(lock)))
    return new, proof, lock


# --- the partner's balance proofs -----------------------------------------------------------------


def _check_partner_proof(channel: ChannelState, proof: BalanceProof) -> None:
    if not channel.is_open:
        raise InvalidBalanceProof("the channel is not open")
    if (
        proof.chain_id != channel.chain_id
        or proof.token_network_address != channel.token_network_address
        or proof.channel_identifier != channel.channel_identifier
    ):
        raise InvalidBalanceProof("the balance proof is for another channel")
    _check_next_nonce(proof.nonce, channel.partner)
    if proof.transferred_amount + proof.locked_amount > UINT256_MAX:
        raise InvalidBalanceProof("transferred + locked exceeds uint256")


def _check_locks(proof: BalanceProof, locks: tuple[Lock, ...]) -> None:
    if proof.locked_amount != sum(lock.amount for lock in locks):
        raise InvalidBalanceProof("locked_amount does not match the pending locks")
    if proof.locksroot != compute_locksroot(lock.encoded for lock in locks):
        raise InvalidBalanceProof("locksroot does not match the pending locks")


def receive_lock(channel: ChannelState, proof: BalanceProof, lock: Lock) -> ChannelState:
    """Applies the partner's LockedTransfer (or RefundTransfer): a new lock, nothing else."""
    _check_partner_proof(channel, proof)
    partner = channel.partner
    if proof.transferred_amount != partner.transferred:
        raise InvalidBalanceProof("a LockedTransfer must not change transferred_amount")
    if lock.amount <= 0:
        raise InvalidBalanceProof("the lock amount must be positive")
    if any(existing.encoded == lock.encoded for existing in partner.locks):
        raise InvalidBalanceProof("the lock is already pending")
    if len(partner.locks) >= MAXIMUM_PENDING_TRANSFERS:
        raise InvalidBalanceProof("too many pending transfers")
    if lock.amount > distributable(partner, channel.our):
        raise InvalidBalanceProof("the lock exceeds the partner's distributable balance")
    locks = partner.locks + (lock,)
    _check_locks(proof, locks)
    return replace(channel, partner=replace(partner, nonce=proof.nonce, locks=locks))


def receive_unlock(channel: ChannelState, proof: BalanceProof, secret: bytes) -> tuple[ChannelState, Lock]:
    """Applies the partner's Unlock: the lock of sha256(secret) becomes transferred."""
    _check_partner_proof(channel, proof)
    partner = channel.partner
    lock = partner.lock_for(sha256(secret))
    if lock is None:
        raise InvalidBalanceProof("no pending lock for this secret")
    if proof.transferred_amount != partner.transferred + lock.amount:
        raise InvalidBalanceProof("transferred_amount must grow by exactly the lock amount")
    locks = partner.without_lock(lock)
    _check_locks(proof, locks)
    new_partner = replace(partner, nonce=proof.nonce, transferred=proof.transferred_amount, locks=locks)
    return replace(channel, partner=new_partner), lock


def receive_lock_expired(
    channel: ChannelState, proof: BalanceProof, secrethash: bytes, block: int, threshold: int
) -> tuple[ChannelState, Lock]:
    """Applies the partner's LockExpired, accepted from ``lock.expiration + threshold`` on.

    The caller must also refuse it when the secret was registered on chain in time.
    """
    _check_partner_proof(channel, proof)
    partner = channel.partner
    lock = partner.lock_for(secrethash)
    if lock is None:
        raise InvalidBalanceProof("no pending lock with that secret hash")
    if block < lock.expiration + threshold:
        raise InvalidBalanceProof(f"the lock has not expired yet (expires at block {lock.expiration})")
    if proof.transferred_amount != partner.transferred:
        raise InvalidBalanceProof("a LockExpired must not change transferred_amount")
    locks = partner.without_lock(lock)
    _check_locks(proof, locks)
    return replace(channel, partner=replace(partner, nonce=proof.nonce, locks=locks)), lock


# --- withdraws ------------------------------------------------------------------------------------


def send_withdraw_request(channel: ChannelState, total_withdraw: int, expiration: int) -> tuple[ChannelState, int]:
    """Records our pending withdraw; (new state, the request's nonce)."""
    _check_open(channel)
    our = channel.our
    if total_withdraw <= our.total_withdraw:
        raise ChannelError(f"Total withdraw {total_withdraw} did not increase")
    amount = total_withdraw - our.total_withdraw
    available = distributable(our, channel.partner)
    if amount > available:
        raise ChannelError(f"The withdraw of {amount} is bigger than the current balance of {available}")
    pending = PendingWithdraw(total_withdraw, expiration, our.nonce + 1)
    return replace(channel, our=replace(our, nonce=our.nonce + 1, withdraws=our.withdraws + (pending,))), pending.nonce


def receive_withdraw_request(
    channel: ChannelState, participant: str, total_withdraw: int, nonce: int, expiration: int
) -> ChannelState:
    """Records the partner's withdraw request; its amount leaves the partner's balance at once."""
    if not channel.is_open:
        raise InvalidBalanceProof("the channel is not open")
    partner = channel.partner
    if participant != partner.address:
        raise InvalidBalanceProof("a withdraw request must be for its sender")
    _check_next_nonce(nonce, partner)
    if total_withdraw <= partner.total_withdraw:
        raise InvalidBalanceProof("the total withdraw did not increase")
    if total_withdraw - partner.total_withdraw > distributable(partner, channel.our):
        raise InvalidBalanceProof("the withdraw exceeds the partner's balance")
    if total_withdraw + channel.our.total_withdraw > UINT256_MAX:
        raise InvalidBalanceProof("the withdraws overflow uint256")
    pending = PendingWithdraw(total_withdraw, expiration, nonce)
    return replace(channel, partner=replace(partner, nonce=nonce, withdraws=partner.withdraws + (pending,)))


def send_withdraw_confirmation(channel: ChannelState) -> tuple[ChannelState, int]:
    """Our nonce for a WithdrawConfirmation of the partner's pending request."""
    our = channel.our
    return replace(channel, our=replace(our, nonce=our.nonce + 1)), our.nonce + 1


def receive_withdraw_confirmation(
    channel: ChannelState,
    total_withdraw: int,
    expiration: int,
    nonce: int,
    expired: Iterable[tuple[int, int]] = (),
) -> ChannelState:
    """The partner confirmed our pending withdraw, or one we expired meanwhile (spec 4.6: a
    late confirmation still consumed the partner's nonce, so it must be accepted).

    ``expired`` holds the (total_withdraw, expiration) pairs of our WithdrawExpired messages.
    """
    partner = channel.partner
    _check_next_nonce(nonce, partner)
    pending = any(w.total_withdraw == total_withdraw and w.expiration == expiration for w in channel.our.withdraws)
    if not pending and (total_withdraw, expiration) not in set(expired):
        raise InvalidBalanceProof("no pending withdraw of ours matches the confirmation")
    return replace(channel, partner=replace(partner, nonce=nonce))


def send_withdraw_expired(channel: ChannelState, total_withdraw: int) -> tuple[ChannelState, int, PendingWithdraw]:
    our = channel.our
    pending = next((w for w in our.withdraws if w.total_withdraw == total_withdraw), None)
    if pending is None:
        raise ChannelError("no pending withdraw with that total")
    withdraws = tuple(w for w in our.withdraws if w is not pending)
    return replace(channel, our=replace(our, nonce=our.nonce + 1, withdraws=withdraws)), our.nonce + 1, pending


def receive_withdraw_expired(
    channel: ChannelState, total_withdraw: int, expiration: int, nonce: int, block: int, threshold: int
) -> ChannelState:
    partner = channel.partner
    _check_next_nonce(nonce, partner)
    pending = next(
        (w for w in partner.withdraws if w.total_withdraw == total_withdraw and w.expiration == expiration), None
    )
    if pending is None:
        raise InvalidBalanceProof("no pending withdraw of the partner matches")
    if block < expiration + threshold:
        raise InvalidBalanceProof("the withdraw has not expired yet")
    withdraws = tuple(w for w in partner.withdraws if w is not pending)
    return replace(channel, partner=replace(partner, nonce=nonce, withdraws=withdraws))


def withdrawn_on_chain(end: EndState, withdrawn: int) -> EndState:
    """Applies a ChannelWithdraw: pending withdraws up to that total are done."""
    return replace(
        end,
        withdrawn=max(end.withdrawn, withdrawn),
        withdraws=tuple(w for w in end.withdraws if w.total_withdraw > withdrawn),
    )
