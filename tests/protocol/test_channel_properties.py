"""Properties of the channel end-state rules (raidennode.protocol.channel) on both ends of one channel.

A hypothesis state machine holds node A's ChannelState and node B's mirror of it (``our`` and
``partner`` swapped), next to a plain model of the channel: the deposits, what each side has
sent, its pending locks (with their secrets) and its withdraws. Each step is one message: its
sender applies it with a ``send_*`` rule and it is delivered at once to the receiver, which applies
it with the matching ``receive_*`` rule. The model predicts whether the sender's rules accept the
change; when they refuse (ChannelError) nothing changes, when they accept, the receiver must accept
the honest message too. A further step builds a bad message (tampered balance proof, lock beyond
capacity, wrong secret, early expiry, bad withdraw request) and checks that the receiver refuses it
with InvalidBalanceProof, keeps its state, and still accepts the honest message afterwards.

Checked after every step: both views of each end agree (nonce, transferred, locks, locksroot,
withdraws); the ends match the model; the balances add up to the deposits minus the withdraws;
nothing is locked beyond an end's balance (distributable >= 0, transferred + locked within uint256).
Checked for every message signed: its nonce is the sender's previous one plus one, and no balance
proof lowers transferred_amount.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from raidennode.protocol.addresses import to_checksum_address
from raidennode.protocol.channel import (
    MAXIMUM_PENDING_TRANSFERS,
    ChannelError,
    ChannelState,
    EndState,
    InvalidBalanceProof,
    NonceGap,
    balance,
    distributable,
    receive_lock,
    receive_lock_expired,
    receive_unlock,
    receive_withdraw_confirmation,
    receive_withdraw_expired,
    receive_withdraw_request,
    send_lock,
    send_lock_expired,
    send_unlock,
    send_withdraw_confirmation,
    send_withdraw_expired,
    send_withdraw_request,
    withdrawn_on_chain,
)
from raidennode.protocol.constants import UINT64_MAX, UINT256_MAX
from raidennode.protocol.hashing import sha256
from raidennode.protocol.messages import BalanceProof, Lock
from raidennode.protocol.packing import compute_locksroot

CHAIN_ID = 1337
TOKEN_NETWORK = to_checksum_address("0x" + "7e" * 20)
CHANNEL_ID = 42
SETTLE_TIMEOUT = 500
REVEAL_TIMEOUT = 5
SIDES = ("A", "B")
ADDRESS = {"A": to_checksum_address("0x" + "a1" * 20), "B": to_checksum_address("0x" + "b2" * 20)}

# A few fixed secrets, so that two pending locks sometimes share a secret hash.
SECRET_POOL = tuple(bytes([i]) * 32 for i in range(1, 4))
secrets = st.one_of(st.sampled_from(SECRET_POOL), st.binary(min_size=32, max_size=32))


def other(side: str) -> str:
    return "B" if side == "A" else "A"


def channel_of(our: EndState, partner: EndState, is_open: bool = True) -> ChannelState:
    return ChannelState(
        chain_id=CHAIN_ID,
        token_network_address=TOKEN_NETWORK,
        channel_identifier=CHANNEL_ID,
        settle_timeout=SETTLE_TIMEOUT,
        reveal_timeout=REVEAL_TIMEOUT,
        is_open=is_open,
        our=our,
        partner=partner,
    )


def proof_of(nonce: int, transferred: int, locks: tuple[Lock, ...]) -> BalanceProof:
    """A balance proof for CHANNEL_ID built by hand (consistent with ``locks``)."""
    return BalanceProof(
        chain_id=CHAIN_ID,
        token_network_address=TOKEN_NETWORK,
        channel_identifier=CHANNEL_ID,
        nonce=nonce,
        transferred_amount=transferred,
        locked_amount=sum(lock.amount for lock in locks),
        locksroot=compute_locksroot(lock.encoded for lock in locks),
    )


@st.composite
def deposit_pairs(draw) -> tuple[int, int]:
    """Small deposits mostly, sometimes huge ones; their sum fits in uint256 as on chain."""
    a = draw(st.one_of(st.integers(0, 1000), st.integers(0, UINT256_MAX)))
    room = UINT256_MAX - a
    b = draw(st.one_of(st.integers(0, min(1000, room)), st.integers(0, room), st.just(room)))
    return (a, b) if draw(st.booleans()) else (b, a)


def amounts(capacity: int) -> st.SearchStrategy[int]:
    """Amounts around a capacity: within it, exactly it, just beyond it, or anything."""
    return st.one_of(
        st.integers(1, max(1, capacity // 4)),
        st.integers(0, capacity + 2),
        st.just(capacity),
        st.just(capacity + 1),
        st.integers(1, 1000),
        st.integers(0, UINT256_MAX),
    )


@dataclass
class PendingLock:
    lock: Lock
    secret: bytes


@dataclass
class Withdraw:
    total: int
    expiration: int
    confirmed: bool = False


class TwoEndsOfAChannel(RuleBasedStateMachine):
    # --- the model ----------------------------------------------------------------------------------

    @initialize(deposits=deposit_pairs(), threshold=st.sampled_from((0, 1, 3)), block=st.integers(1, 10**7))
    def open_channel(self, deposits: tuple[int, int], threshold: int, block: int) -> None:
        a = EndState(ADDRESS["A"], deposit=deposits[0])
        b = EndState(ADDRESS["B"], deposit=deposits[1])
        self.state = {"A": channel_of(a, b), "B": channel_of(b, a)}
        self.deposit = dict(zip(SIDES, deposits))
        self.sent = {"A": 0, "B": 0}
        self.locks: dict[str, list[PendingLock]] = {"A": [], "B": []}
        self.withdrawn = {"A": 0, "B": 0}  # on chain
        self.withdraws: dict[str, list[Withdraw]] = {"A": [], "B": []}
        self.nonce = {"A": 0, "B": 0}
        self.last_transferred = {"A": 0, "B": 0}  # of the side's last balance proof
        self.block = block
        self.threshold = threshold  # the receiver's confirmation blocks for expiries

    def total_withdraw(self, side: str) -> int:
        return max([self.withdrawn[side], *(w.total for w in self.withdraws[side])])

    def locked(self, side: str) -> int:
        return sum(pending.lock.amount for pending in self.locks[side])

    def balance(self, side: str) -> int:
        return self.deposit[side] - self.total_withdraw(side) - self.sent[side] + self.sent[other(side)]

    def capacity(self, side: str) -> int:
        locked = self.locked(side)
        return max(0, min(self.balance(side) - locked, UINT256_MAX - self.sent[side] - locked))

    def first_lock(self, side: str, secrethash: bytes) -> int:
        """Index of the lock the rules pick for ``secrethash``: the first pending one."""
        return next(i for i, pending in enumerate(self.locks[side]) if pending.lock.secrethash == secrethash)

    def signed(self, side: str, nonce: int) -> None:
        assert nonce == self.nonce[side] + 1, (side, nonce, self.nonce[side])
        self.nonce[side] = nonce

    def signed_proof(self, side: str, proof: BalanceProof) -> None:
        """``side`` signed ``proof`` (the model already updated): next nonce, transferred never lower."""
        self.signed(side, proof.nonce)
        assert proof.transferred_amount >= self.last_transferred[side]
        self.last_transferred[side] = proof.transferred_amount
        locks = tuple(pending.lock for pending in self.locks[side])
        assert (proof.chain_id, proof.token_network_address, proof.channel_identifier) == (
            CHAIN_ID,
            TOKEN_NETWORK,
            CHANNEL_ID,
        )
        assert proof == proof_of(self.nonce[side], self.sent[side], locks)

    def refused_by_sender(self, side: str, call, *args) -> None:
        before = astuple(self.state[side])
        with pytest.raises(ChannelError):
            call(self.state[side], *args)
        assert astuple(self.state[side]) == before

    # --- locks --------------------------------------------------------------------------------------

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def lock(self, side: str, data: st.DataObject) -> None:
        receiver = other(side)
        capacity = self.capacity(side)
        if self.locks[side] and data.draw(st.integers(0, 9), label="repeat a pending lock") == 0:
            pending = data.draw(st.sampled_from(self.locks[side]))
            lock, secret = pending.lock, pending.secret
        else:
            secret = data.draw(secrets, label="secret")
            amount = data.draw(amounts(capacity), label="amount")
            expiration = self.block + data.draw(st.integers(1, 40), label="lock timeout")
            lock = Lock(amount=amount, expiration=expiration, secrethash=sha256(secret))
        accepted = (
            0 < lock.amount <= capacity
            and len(self.locks[side]) < MAXIMUM_PENDING_TRANSFERS
            and all(pending.lock != lock for pending in self.locks[side])
        )
        if not accepted:
            self.refused_by_sender(side, send_lock, lock)
            return
        sender, proof = send_lock(self.state[side], lock)
        self.state[receiver] = receive_lock(self.state[receiver], proof, lock)
        self.state[side] = sender
        self.locks[side].append(PendingLock(lock, secret))
        self.signed_proof(side, proof)

    @precondition(lambda self: self.locks["A"] or self.locks["B"])
    @rule(side=st.sampled_from(SIDES), data=st.data())
    def unlock(self, side: str, data: st.DataObject) -> None:
        if not self.locks[side]:
            side = other(side)
        receiver = other(side)
        secret = data.draw(st.sampled_from(self.locks[side])).secret
        expected = self.locks[side].pop(self.first_lock(side, sha256(secret))).lock
        sender, proof, lock = send_unlock(self.state[side], sha256(secret))
        assert lock == expected
        self.state[receiver], received = receive_unlock(self.state[receiver], proof, secret)
        assert received == expected
        self.state[side] = sender
        self.sent[side] += lock.amount
        self.signed_proof(side, proof)

    @rule(side=st.sampled_from(SIDES), secret=secrets)
    def unlock_without_a_pending_lock(self, side: str, secret: bytes) -> None:
        if any(pending.lock.secrethash == sha256(secret) for pending in self.locks[side]):
            return
        self.refused_by_sender(side, send_unlock, sha256(secret))
        self.refused_by_sender(side, send_lock_expired, sha256(secret))

    @precondition(lambda self: self.locks["A"] or self.locks["B"])
    @rule(side=st.sampled_from(SIDES), data=st.data())
    def expire_lock(self, side: str, data: st.DataObject) -> None:
        if not self.locks[side]:
            side = other(side)
        receiver = other(side)
        secrethash = data.draw(st.sampled_from(self.locks[side])).lock.secrethash
        index = self.first_lock(side, secrethash)
        expected = self.locks[side][index].lock
        sender, proof, lock = send_lock_expired(self.state[side], secrethash)
        assert lock == expected
        expires_at = lock.expiration + self.threshold
        if self.block < expires_at:  # too early for the receiver: it refuses, then the chain moves on
            early = data.draw(st.integers(self.block, expires_at - 1), label="early block")
            before = astuple(self.state[receiver])
            with pytest.raises(InvalidBalanceProof, match="not expired"):
                receive_lock_expired(self.state[receiver], proof, secrethash, early, self.threshold)
            assert astuple(self.state[receiver]) == before
            self.block = expires_at + data.draw(st.integers(0, 3), label="blocks after expiry")
        self.state[receiver], received = receive_lock_expired(
            self.state[receiver], proof, secrethash, self.block, self.threshold
        )
        assert received == expected
        self.state[side] = sender
        del self.locks[side][index]
        self.signed_proof(side, proof)

    @rule(blocks=st.integers(1, 20))
    def mine(self, blocks: int) -> None:
        self.block += blocks

    # --- withdraws ----------------------------------------------------------------------------------

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def request_withdraw(self, side: str, data: st.DataObject) -> None:
        receiver = other(side)
        capacity = self.capacity(side)
        current = self.total_withdraw(side)
        increase = data.draw(st.one_of(amounts(capacity), st.integers(-min(current, 3), 0)), label="increase")
        total = current + increase
        expiration = self.block + data.draw(st.integers(1, 30), label="withdraw timeout")
        if not 0 < increase <= capacity:
            self.refused_by_sender(side, send_withdraw_request, total, expiration)
            return
        sender, nonce = send_withdraw_request(self.state[side], total, expiration)
        self.state[receiver] = receive_withdraw_request(self.state[receiver], ADDRESS[side], total, nonce, expiration)
        self.state[side] = sender
        self.withdraws[side].append(Withdraw(total, expiration))
        self.signed(side, nonce)

    @precondition(lambda self: any(not w.confirmed for side in SIDES for w in self.withdraws[side]))
    @rule(data=st.data())
    def confirm_withdraw(self, data: st.DataObject) -> None:
        side, withdraw = data.draw(
            st.sampled_from([(side, w) for side in SIDES for w in self.withdraws[side] if not w.confirmed])
        )
        partner = other(side)
        confirming, nonce = send_withdraw_confirmation(self.state[partner])
        self.state[side] = receive_withdraw_confirmation(self.state[side], withdraw.total, withdraw.expiration, nonce)
        self.state[partner] = confirming
        withdraw.confirmed = True
        self.signed(partner, nonce)

    @precondition(
        lambda self: any(
            w.confirmed and self.block < w.expiration and w.total > self.withdrawn[side]
            for side in SIDES
            for w in self.withdraws[side]
        )
    )
    @rule(data=st.data())
    def withdraw_on_chain(self, data: st.DataObject) -> None:
        """setTotalWithdraw with a confirmed, unexpired withdraw; both nodes apply ChannelWithdraw."""
        side, withdraw = data.draw(
            st.sampled_from(
                [
                    (side, w)
                    for side in SIDES
                    for w in self.withdraws[side]
                    if w.confirmed and self.block < w.expiration and w.total > self.withdrawn[side]
                ]
            )
        )
        partner = other(side)
        ours, theirs = self.state[side], self.state[partner]
        self.state[side] = replace(ours, our=withdrawn_on_chain(ours.our, withdraw.total))
        self.state[partner] = replace(theirs, partner=withdrawn_on_chain(theirs.partner, withdraw.total))
        self.withdrawn[side] = withdraw.total
        self.withdraws[side] = [w for w in self.withdraws[side] if w.total > withdraw.total]

    @precondition(lambda self: self.withdraws["A"] or self.withdraws["B"])
    @rule(data=st.data())
    def expire_withdraw(self, data: st.DataObject) -> None:
        side, withdraw = data.draw(st.sampled_from([(side, w) for side in SIDES for w in self.withdraws[side]]))
        receiver = other(side)
        sender, nonce, pending = send_withdraw_expired(self.state[side], withdraw.total)
        assert (pending.total_withdraw, pending.expiration) == (withdraw.total, withdraw.expiration)
        expires_at = withdraw.expiration + self.threshold
        if self.block < expires_at:
            early = data.draw(st.integers(self.block, expires_at - 1), label="early block")
            before = astuple(self.state[receiver])
            with pytest.raises(InvalidBalanceProof, match="not expired"):
                receive_withdraw_expired(
                    self.state[receiver], withdraw.total, withdraw.expiration, nonce, early, self.threshold
                )
            assert astuple(self.state[receiver]) == before
            self.block = expires_at + data.draw(st.integers(0, 3), label="blocks after expiry")
        self.state[receiver] = receive_withdraw_expired(
            self.state[receiver], withdraw.total, withdraw.expiration, nonce, self.block, self.threshold
        )
        self.state[side] = sender
        self.withdraws[side].remove(withdraw)
        self.signed(side, nonce)

    # --- bad messages -------------------------------------------------------------------------------

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def receiver_refuses_a_bad_balance_proof(self, side: str, data: st.DataObject) -> None:
        """A tampered balance proof of an honest lock, unlock or lock expiry is refused, harmlessly."""
        receiver = other(side)
        sender_state, receiver_state = self.state[side], self.state[receiver]
        capacity = self.capacity(side)
        kinds = (["lock"] if capacity > 0 else []) + (["unlock", "expire"] if self.locks[side] else [])
        if not kinds:
            return
        kind = data.draw(st.sampled_from(kinds), label="message")
        if kind == "lock":
            secret = data.draw(secrets, label="secret")
            amount = data.draw(st.integers(1, capacity), label="amount")
            lock = Lock(amount, self.block + data.draw(st.integers(1, 40)), sha256(secret))
            if any(pending.lock == lock for pending in self.locks[side]):
                return
            sent, proof = send_lock(sender_state, lock)

            def deliver(state: ChannelState, proof: BalanceProof) -> object:
                return receive_lock(state, proof, lock)

        elif kind == "unlock":
            secret = data.draw(st.sampled_from(self.locks[side])).secret
            sent, proof, _ = send_unlock(sender_state, sha256(secret))

            def deliver(state: ChannelState, proof: BalanceProof) -> object:
                return receive_unlock(state, proof, secret)

        else:
            secrethash = data.draw(st.sampled_from(self.locks[side])).lock.secrethash
            expiration = self.locks[side][self.first_lock(side, secrethash)].lock.expiration
            block = max(self.block, expiration + self.threshold)
            sent, proof, _ = send_lock_expired(sender_state, secrethash)

            def deliver(state: ChannelState, proof: BalanceProof) -> object:
                return receive_lock_expired(state, proof, secrethash, block, self.threshold)

        tampers = ["stale nonce", "future nonce", "higher transferred", "locked amount", "locksroot", "channel"]
        if proof.transferred_amount > 0:
            tampers.append("lower transferred")
        if kind == "unlock":
            tampers.append("unchanged transferred")
        locks_after = sent.our.locks  # pairwise distinct: the rules refuse a lock already pending
        if len(locks_after) >= 2:
            tampers.append("locks reordered")
        tamper = data.draw(st.sampled_from(tampers), label="tamper")
        error = InvalidBalanceProof
        if tamper == "stale nonce":
            bad = replace(proof, nonce=data.draw(st.integers(0, proof.nonce - 1)))
        elif tamper == "future nonce":
            bad = replace(proof, nonce=proof.nonce + data.draw(st.integers(1, 5)))
            error = NonceGap
        elif tamper == "lower transferred":
            bad = replace(proof, transferred_amount=data.draw(st.integers(0, proof.transferred_amount - 1)))
        elif tamper == "higher transferred":
            bad = replace(proof, transferred_amount=proof.transferred_amount + data.draw(st.integers(1, 1000)))
        elif tamper == "unchanged transferred":
            bad = replace(proof, transferred_amount=sender_state.our.transferred)
        elif tamper == "locked amount":
            delta = data.draw(st.integers(-proof.locked_amount, 1000).filter(bool))
            bad = replace(proof, locked_amount=proof.locked_amount + delta)
        elif tamper == "locksroot":
            root = data.draw(st.binary(min_size=32, max_size=32).filter(lambda root: root != proof.locksroot))
            bad = replace(proof, locksroot=root)
        elif tamper == "locks reordered":  # the locksroot commits to the insertion order
            rotated = (*locks_after[1:], locks_after[0])
            bad = replace(proof, locksroot=compute_locksroot(lock.encoded for lock in rotated))
        else:
            field, value = data.draw(
                st.sampled_from(
                    [
                        ("chain_id", CHAIN_ID + 1),
                        ("channel_identifier", CHANNEL_ID + 1),
                        ("token_network_address", to_checksum_address("0x" + "7f" * 20)),
                    ]
                )
            )
            bad = replace(proof, **{field: value})
        refusal = self.refused_by_receiver(receiver, deliver, bad, error=error)
        if tamper == "stale nonce":
            assert not isinstance(refusal, NonceGap)  # an old message is invalid, not early
        deliver(receiver_state, proof)  # the honest message is still accepted (the result is dropped)

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def receiver_refuses_a_bad_lock(self, side: str, data: st.DataObject) -> None:
        """Locks the sender's rules would never send, with a consistent balance proof: refused."""
        receiver = other(side)
        end = self.state[side].our
        choices = ["beyond capacity", "zero amount"] + (["already pending"] if end.locks else [])
        choice = data.draw(st.sampled_from(choices), label="bad lock")
        secret = data.draw(secrets, label="secret")
        expiration = self.block + data.draw(st.integers(1, 40))
        if choice == "beyond capacity":
            capacity = self.capacity(side)
            if capacity == UINT256_MAX:  # every uint256 amount fits
                return
            amount = capacity + data.draw(st.integers(1, UINT256_MAX - capacity), label="excess")
            lock = Lock(amount, expiration, sha256(secret))
        elif choice == "zero amount":
            lock = Lock(0, expiration, sha256(secret))
        else:
            lock = data.draw(st.sampled_from(end.locks))
        proof = proof_of(end.nonce + 1, end.transferred, (*end.locks, lock))
        self.refused_by_receiver(receiver, receive_lock, proof, lock)
        if choice == "beyond capacity":
            self.refused_by_sender(side, send_lock, lock)

    @precondition(lambda self: self.locks["A"] or self.locks["B"])
    @rule(side=st.sampled_from(SIDES), secret=secrets)
    def receiver_refuses_an_unlock_with_a_wrong_secret(self, side: str, secret: bytes) -> None:
        if not self.locks[side]:
            side = other(side)
        if any(pending.lock.secrethash == sha256(secret) for pending in self.locks[side]):
            return
        end = self.state[side].our
        lock = end.locks[0]  # pretend the secret unlocks the first lock
        proof = proof_of(end.nonce + 1, end.transferred + lock.amount, end.locks[1:])
        self.refused_by_receiver(other(side), receive_unlock, proof, secret)

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def receiver_refuses_a_bad_withdraw_request(self, side: str, data: st.DataObject) -> None:
        receiver = other(side)
        capacity = self.capacity(side)
        current = self.total_withdraw(side)
        nonce = self.nonce[side] + 1
        total = current + data.draw(st.integers(1, max(1, capacity)))
        expiration = self.block + 10
        choices = ["not the sender", "stale nonce", "future nonce", "no increase", "beyond capacity"]
        choice = data.draw(st.sampled_from(choices), label="bad withdraw request")
        participant, error = ADDRESS[side], InvalidBalanceProof
        if choice == "not the sender":
            participant = ADDRESS[receiver]
        elif choice == "stale nonce":
            nonce = data.draw(st.integers(0, nonce - 1))
        elif choice == "future nonce":
            nonce += data.draw(st.integers(1, 5))
            error = NonceGap
        elif choice == "no increase":
            total = current - data.draw(st.integers(0, min(current, 3)))
        else:
            total = current + capacity + data.draw(st.integers(1, 1000))
        if capacity == 0 and choice in ("not the sender", "stale nonce", "future nonce"):
            return  # the honest request itself would be refused: covered by "beyond capacity"
        self.refused_by_receiver(receiver, receive_withdraw_request, participant, total, nonce, expiration, error=error)

    def refused_by_receiver(
        self, receiver: str, receive, *args, error: type[InvalidBalanceProof] = InvalidBalanceProof
    ) -> InvalidBalanceProof:
        """``receive(receiver's state, *args)`` raises ``error`` and the receiver's state stays as it was."""
        before = astuple(self.state[receiver])
        with pytest.raises(error) as refused:
            receive(self.state[receiver], *args)
        assert astuple(self.state[receiver]) == before
        return refused.value

    # --- invariants ---------------------------------------------------------------------------------

    @invariant()
    def both_views_of_each_end_agree(self) -> None:
        for side in SIDES:
            own, seen = self.state[side].our, self.state[other(side)].partner
            assert (own.nonce, own.transferred, own.locked_amount, own.locksroot) == (
                seen.nonce,
                seen.transferred,
                seen.locked_amount,
                seen.locksroot,
            )
            assert own == seen  # also the deposit, the pending withdraws and the on-chain withdrawn amount

    @invariant()
    def the_ends_match_the_model(self) -> None:
        for side in SIDES:
            end = self.state[side].our
            assert end.address == ADDRESS[side] and end.deposit == self.deposit[side]
            assert end.nonce == self.nonce[side]
            assert end.transferred == self.sent[side]
            assert end.locks == tuple(pending.lock for pending in self.locks[side])
            assert end.locked_amount == self.locked(side)
            assert end.withdrawn == self.withdrawn[side]
            assert end.total_withdraw == self.total_withdraw(side)
            assert [(w.total_withdraw, w.expiration) for w in end.withdraws] == [
                (w.total, w.expiration) for w in self.withdraws[side]
            ]

    @invariant()
    def balances_conserve(self) -> None:
        a, b = self.state["A"], self.state["B"]
        total = sum(self.deposit.values()) - self.total_withdraw("A") - self.total_withdraw("B")
        assert balance(a.our, a.partner) + balance(b.our, b.partner) == total
        for view in (a, b):
            assert balance(view.our, view.partner) + balance(view.partner, view.our) == total
        for side in SIDES:
            assert balance(self.state[side].our, self.state[side].partner) == self.balance(side)

    @invariant()
    def nothing_is_locked_beyond_capacity(self) -> None:
        for view in self.state.values():
            for end, partner in ((view.our, view.partner), (view.partner, view.our)):
                assert 0 <= end.locked_amount <= balance(end, partner)
                assert distributable(end, partner) >= 0
                assert end.transferred + end.locked_amount <= UINT256_MAX
                assert end.nonce <= UINT64_MAX


TwoEndsOfAChannel.TestCase.settings = settings(max_examples=200, deadline=None, stateful_step_count=30)
TestTwoEndsOfAChannel = TwoEndsOfAChannel.TestCase


# --- edge cases outside the state machine -----------------------------------------------------------------


def test_nonces_are_never_exhausted_silently():
    lock = Lock(1, 100, sha256(b"\x01" * 32))
    end = EndState(ADDRESS["A"], deposit=10, nonce=UINT64_MAX, locks=(lock,))
    channel = channel_of(end, EndState(ADDRESS["B"], deposit=10))
    with pytest.raises(ChannelError, match="exhausted"):
        send_lock(channel, Lock(1, 100, sha256(b"\x02" * 32)))
    with pytest.raises(ChannelError, match="exhausted"):
        send_unlock(channel, lock.secrethash)
    with pytest.raises(ChannelError, match="exhausted"):
        send_lock_expired(channel, lock.secrethash)


def test_a_closed_channel_refuses_new_locks_both_ways():
    lock = Lock(1, 100, sha256(b"\x01" * 32))
    a, b = EndState(ADDRESS["A"], deposit=10), EndState(ADDRESS["B"], deposit=10)
    with pytest.raises(ChannelError):
        send_lock(channel_of(a, b, is_open=False), lock)
    with pytest.raises(InvalidBalanceProof):
        receive_lock(channel_of(b, a, is_open=False), proof_of(1, 0, (lock,)), lock)


def test_a_late_confirmation_of_an_expired_withdraw_is_accepted():
    """Spec 4.6: a WithdrawConfirmation must match "a pending/expired request of ours" (the reference
    accepts it "to clear the confirming node's queue"). B consumed a nonce for it: refusing it leaves
    A's view of B's nonce behind for good, and every later message of B is a NonceGap."""
    a, b = EndState(ADDRESS["A"], deposit=100), EndState(ADDRESS["B"], deposit=100)
    node_a, node_b = channel_of(a, b), channel_of(b, a)
    block, threshold, expiration = 1000, 5, 1009
    node_a, nonce = send_withdraw_request(node_a, 30, expiration)
    node_b = receive_withdraw_request(node_b, ADDRESS["A"], 30, nonce, expiration)
    node_b, confirmation_nonce = send_withdraw_confirmation(node_b)  # delayed in transit (or B was stopped)
    block = expiration + threshold
    node_a, nonce, _ = send_withdraw_expired(node_a, 30)  # A gives up on its withdraw
    node_b = receive_withdraw_expired(node_b, 30, expiration, nonce, block, threshold)
    node_a = receive_withdraw_confirmation(node_a, 30, expiration, confirmation_nonce, expired=[(30, expiration)])
    assert node_a.partner.nonce == node_b.our.nonce
