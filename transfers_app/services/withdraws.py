"""Withdrawing from an open channel (spec 4.7): WithdrawRequest, WithdrawConfirmation, then
setTotalWithdraw on chain with both signatures; WithdrawExpired when it never got there.

Also the cooperative settle: two withdraw requests (flagged coop_settle) for the participants'
whole balances, confirmed by each other, submitted together in one cooperativeSettle.
"""

from __future__ import annotations

import time

from django.db import transaction

from channels_app.models import ChainOperation, Channel
from channels_app.offchain import channel_state_of, channel_state_save, channels_lock
from channels_app.selectors import channel_by_pk
from channels_app.services.operations import operation_create, operation_run
from channels_app.services.waiting import wait_for_chain
from raidennode.errors import Conflict, RequestTimeout
from raidennode.nodes.models import Node
from raidennode.nodes.services import node_account
from raidennode.protocol.channel import (
    ChannelError,
    InvalidBalanceProof,
    balance,
    receive_withdraw_confirmation,
    receive_withdraw_expired,
    receive_withdraw_request,
    send_withdraw_confirmation,
    send_withdraw_expired,
    send_withdraw_request,
)
from raidennode.protocol.messages import WithdrawConfirmation, WithdrawExpired, WithdrawRequest

from ..models import Message
from .handlers import channel_for_update
from .messaging import (
    Context,
    Outcome,
    chain_context,
    handles,
    message_identifier_new,
    message_record,
    messages_send_after_commit,
    state_change_log,
    transport,
)


def _signature_hex(signature: bytes) -> str:
    return "0x" + signature.hex()


def withdraw_expiration(block: int, reveal_timeout: int) -> int:
    return block + 2 * reveal_timeout - 1


def _partner_reachable(channel: Channel) -> None:
    partner = channel.partner_address
    running = Node.objects.filter(address=partner, state=Node.State.RUNNING).exists()
    if not transport().reachable(partner) or not running:
        raise Conflict(
            f"The partner {partner} is not reachable: a withdraw needs its signature, and only running "
            "co-hosted nodes can be reached"
        )


def _request(node: Node, channel: Channel, total_withdraw: int, coop_settle: bool, context: Context) -> Message:
    """Records our WithdrawRequest (inside the caller's transaction, channel row locked)."""
    state = channel_state_of(channel, context.chain_id)
    expiration = withdraw_expiration(context.block, state.reveal_timeout)
    state, nonce = send_withdraw_request(state, total_withdraw, expiration)
    request = WithdrawRequest(
        message_identifier=message_identifier_new(),
        chain_id=context.chain_id,
        token_network_address=state.token_network_address,
        channel_identifier=state.channel_identifier,
        participant=node.address,
        total_withdraw=total_withdraw,
        nonce=nonce,
        expiration=expiration,
        coop_settle=coop_settle,
    ).signed(node_account(node).signer)
    channel_state_save(channel, state)
    return message_record(node, channel.partner_address, request, channel)


def channel_withdraw(node: Node, channel: Channel, total_withdraw: int) -> Channel:
    """Withdraws to ``total_withdraw`` (a total): the partner confirms off-chain, then
    setTotalWithdraw; blocks until ChannelWithdraw is applied. Locks the channel row while
    requesting. Raises Conflict (Raiden's 409 messages, partner unreachable), RequestTimeout."""
    if channel.state != "opened":
        raise Conflict("Can't withdraw from a closed channel")
    context = chain_context()
    state = channel_state_of(channel, context.chain_id)
    if total_withdraw <= state.our.total_withdraw:
        raise Conflict(f"Total withdraw {total_withdraw} did not increase")
    amount = total_withdraw - state.our.total_withdraw
    our_balance = balance(state.our, state.partner)
    if amount > our_balance:
        raise Conflict(f"The withdraw of {amount} is bigger than the current balance of {our_balance}")
    _partner_reachable(channel)
    with transaction.atomic():
        locked = channel_for_update(node, state.token_network_address, state.channel_identifier)
        try:
            row = _request(node, locked, total_withdraw, False, context)
        except ChannelError as exc:
            raise Conflict(str(exc)) from exc
        state_change_log(node, "withdraw_requested", {"channel": locked.pk, "total_withdraw": str(total_withdraw)})
        messages_send_after_commit([row])
    # The co-hosted partner confirmed during the commit above; our handler of its confirmation
    # queued the setTotalWithdraw operation.
    expiration = row.payload["expiration"]
    op = _operation_wait_created(f"withdraw:{channel.pk}:{total_withdraw}", int(expiration))
    operation_run(op)
    return wait_for_chain(
        lambda: _withdrawn(channel.pk, total_withdraw),
        f"The withdraw of {total_withdraw} from channel {state.channel_identifier}",
    )


def _withdrawn(channel_pk: int, total: int) -> Channel | None:
    channel = channel_by_pk(channel_pk)
    return channel if channel.our_withdrawn >= total else None


def _operation_wait_created(dedupe_key: str, expiration: int, timeout: float = 600.0) -> ChainOperation:
    deadline = time.monotonic() + timeout
    interval = 0.005
    while True:
        op = ChainOperation.objects.filter(dedupe_key=dedupe_key).order_by("-pk").first()
        if op is not None:
            return op
        if chain_context().block >= expiration or time.monotonic() > deadline:
            raise RequestTimeout("The partner did not confirm the withdraw before it expired.")
        time.sleep(interval)
        interval = min(interval * 2, 0.5)


@handles(WithdrawRequest.TYPE)
def withdraw_request_received(node: Node, message: WithdrawRequest, row: Message, context: Context) -> Outcome:
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state = channel_state_of(channel, context.chain_id)
    if message.coop_settle:
        return _coop_request_received(node, channel, state, message, context)
    state = receive_withdraw_request(
        state, message.participant, message.total_withdraw, message.nonce, message.expiration
    )
    state, nonce = send_withdraw_confirmation(state)
    confirmation = _confirmation_of(node, message, nonce)
    channel_state_save(channel, state)
    return Outcome(
        [message_record(node, channel.partner_address, confirmation, channel)],
        {"total_withdraw": str(message.total_withdraw)},
    )


def _confirmation_of(node: Node, request: WithdrawRequest, nonce: int) -> WithdrawConfirmation:
    return WithdrawConfirmation(
        message_identifier=request.message_identifier,
        chain_id=request.chain_id,
        token_network_address=request.token_network_address,
        channel_identifier=request.channel_identifier,
        participant=request.participant,
        total_withdraw=request.total_withdraw,
        nonce=nonce,
        expiration=request.expiration,
    ).signed(node_account(node).signer)


def _our_request(node: Node, confirmation: WithdrawConfirmation) -> WithdrawRequest:
    """Our request that ``confirmation`` confirms (re-signed: EIP-191 signatures are deterministic)."""
    return WithdrawRequest(
        message_identifier=confirmation.message_identifier,
        chain_id=confirmation.chain_id,
        token_network_address=confirmation.token_network_address,
        channel_identifier=confirmation.channel_identifier,
        participant=confirmation.participant,
        total_withdraw=confirmation.total_withdraw,
        nonce=0,
        expiration=confirmation.expiration,
    ).signed(node_account(node).signer)


def _our_expired(node: Node, channel: Channel) -> list[tuple[int, int]]:
    """(total_withdraw, expiration) of the WithdrawExpired messages we sent on this channel."""
    payloads = Message.objects.filter(
        sender=node.address,
        kind=WithdrawExpired.TYPE,
        token_network_id=channel.network_channel.token_network_id,
        channel_identifier=channel.network_channel.identifier,
    ).values_list("payload", flat=True)
    return [(int(p["total_withdraw"]), int(p["expiration"])) for p in payloads]


@handles(WithdrawConfirmation.TYPE)
def withdraw_confirmation_received(
    node: Node, message: WithdrawConfirmation, row: Message, context: Context
) -> Outcome:
    if message.participant != node.address:
        raise InvalidBalanceProof("the confirmation is not for a withdraw of ours")
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state = channel_state_of(channel, context.chain_id)
    was_pending = any(w.total_withdraw == message.total_withdraw for w in state.our.withdraws)
    state = receive_withdraw_confirmation(
        state, message.total_withdraw, message.expiration, message.nonce, expired=_our_expired(node, channel)
    )
    channel_state_save(channel, state)
    if not was_pending:
        # A confirmation of a withdraw we expired meanwhile: it only takes the partner's nonce.
        return Outcome([], {"total_withdraw": str(message.total_withdraw), "late": True})
    ours = _our_request(node, message)
    if _coop_pending(channel, message):
        return _coop_confirmation_received(node, channel, message, ours, context)
    operation_create(
        node=node,
        kind=ChainOperation.Kind.CHANNEL_WITHDRAW,
        args={
            "token_network": message.token_network_address,
            "channel_identifier": str(message.channel_identifier),
            "partner": channel.partner_address,
            "total_withdraw": str(message.total_withdraw),
            "expiration": str(message.expiration),
            "participant_signature": _signature_hex(ours.signature),
            "partner_signature": _signature_hex(message.signature),
        },
        serial_key=f"channel:{message.token_network_address}:{message.channel_identifier}",
        dedupe_key=f"withdraw:{channel.pk}:{message.total_withdraw}",
        channel=channel,
    )
    return Outcome([], {"total_withdraw": str(message.total_withdraw)})


@handles(WithdrawExpired.TYPE)
def withdraw_expired_received(node: Node, message: WithdrawExpired, row: Message, context: Context) -> Outcome:
    channel = channel_for_update(node, message.token_network_address, message.channel_identifier)
    state = receive_withdraw_expired(
        channel_state_of(channel, context.chain_id),
        message.total_withdraw,
        message.expiration,
        message.nonce,
        context.block,
        context.confirmations,
    )
    channel_state_save(channel, state)
    return Outcome([], {"total_withdraw": str(message.total_withdraw)})


def withdraw_expire(node: Node, channel_pk: int, total_withdraw: int, context: Context) -> None:
    """Sends WithdrawExpired for our withdraw that never reached the chain (a duty)."""
    with transaction.atomic():
        channel = channels_lock([channel_pk])[channel_pk]
        state = channel_state_of(channel, context.chain_id)
        try:
            state, nonce, pending = send_withdraw_expired(state, total_withdraw)
        except ChannelError:
            return
        expired = WithdrawExpired(
            message_identifier=message_identifier_new(),
            chain_id=context.chain_id,
            token_network_address=state.token_network_address,
            channel_identifier=state.channel_identifier,
            participant=node.address,
            total_withdraw=pending.total_withdraw,
            expiration=pending.expiration,
            nonce=nonce,
        ).signed(node_account(node).signer)
        channel_state_save(channel, state)
        state_change_log(node, "withdraw_expired", {"channel": channel.pk, "total_withdraw": str(total_withdraw)})
        messages_send_after_commit([message_record(node, channel.partner_address, expired, channel)])


# --- cooperative settle -------------------------------------------------------------------------


def _coop_pending(channel: Channel, confirmation: WithdrawConfirmation) -> bool:
    """Whether the confirmed withdraw was a coop-settle request of ours."""
    return Message.objects.filter(
        sender=channel.node.address,
        kind=WithdrawRequest.TYPE,
        message_identifier=confirmation.message_identifier,
        payload__coop_settle=True,
    ).exists()


def _coop_total(state, end, other) -> int:
    return end.withdrawn + balance(end, other)


def channel_settle_cooperatively(node: Node, channel: Channel) -> bool:
    """Tries a cooperative settle with a co-hosted partner; True when the channel was settled.

    Possible only with no pending locks and no pending withdraws on either side. Blocks until
    ChannelSettled is applied. Returns False (nothing sent) when the partner cannot take part.
    """
    context = chain_context()
    state = channel_state_of(channel, context.chain_id)
    if state.our.locks or state.partner.locks or state.our.withdraws or state.partner.withdraws:
        return False
    try:
        _partner_reachable(channel)
    except Conflict:
        return False
    with transaction.atomic():
        locked = channel_for_update(node, state.token_network_address, state.channel_identifier)
        locked_state = channel_state_of(locked, context.chain_id)
        total = _coop_total(locked_state, locked_state.our, locked_state.partner)
        if total <= locked_state.our.withdrawn:
            return False  # nothing of ours left in the channel: the contract needs a total above it
        try:
            row = _request(node, locked, total, True, context)
        except ChannelError:
            return False
        state_change_log(node, "coop_settle_requested", {"channel": locked.pk, "total_withdraw": str(total)})
        messages_send_after_commit([row])
    op = ChainOperation.objects.filter(dedupe_key=f"coop_settle:{channel.network_channel_id}").first()
    if op is None:
        return False
    operation_run(op)
    wait_for_chain(lambda: _settled(channel.pk), f"The cooperative settlement of channel {state.channel_identifier}")
    return True


def _settled(channel_pk: int) -> Channel | None:
    channel = channel_by_pk(channel_pk)
    return channel if channel.network_channel.state == "settled" else None


def _our_coop_request(node: Node, channel: Channel) -> Message | None:
    """Our coop-settle request on this channel that is still pending (its total not withdrawn)."""
    row = (
        Message.objects.filter(
            sender=node.address,
            kind=WithdrawRequest.TYPE,
            token_network_id=channel.network_channel.token_network_id,
            channel_identifier=channel.network_channel.identifier,
            payload__coop_settle=True,
        )
        .order_by("-pk")
        .first()
    )
    pending = {str(total) for total, _expiration, _nonce in channel.our_withdraws}
    return row if row is not None and row.payload["total_withdraw"] in pending else None


def _coop_request_received(node: Node, channel: Channel, state, message: WithdrawRequest, context: Context) -> Outcome:
    """The partner asks to settle cooperatively: confirm its request and, when it started, ask
    for our whole balance; when we started, submit the settlement once both sides confirmed."""
    ours = _our_coop_request(node, channel)
    if state.our.locks or state.partner.locks or state.partner.withdraws or (state.our.withdraws and ours is None):
        raise InvalidBalanceProof("a cooperative settle needs a channel without pending locks or withdraws")
    if message.total_withdraw != _coop_total(state, state.partner, state.our):
        raise InvalidBalanceProof("the cooperative settle total is not the partner's whole balance")
    state = receive_withdraw_request(
        state, message.participant, message.total_withdraw, message.nonce, message.expiration
    )
    state, nonce = send_withdraw_confirmation(state)
    confirmation = _confirmation_of(node, message, nonce)
    replies = [message_record(node, channel.partner_address, confirmation, channel)]
    channel_state_save(channel, state)
    if ours is not None:
        # We asked first and the partner confirmed already: both halves are signed now.
        partner_confirmation = Message.objects.filter(
            sender=channel.partner_address,
            kind=WithdrawConfirmation.TYPE,
            message_identifier=ours.message_identifier,
            status=Message.Status.PROCESSED,
        ).first()
        if partner_confirmation is None:
            return Outcome(replies, {"coop_settle": "waiting for the partner's confirmation"})
        data_ours = {
            "participant": node.address,
            "total_withdraw": ours.payload["total_withdraw"],
            "expiration": ours.payload["expiration"],
            "participant_signature": ours.payload["signature"],
            "partner_signature": partner_confirmation.payload["signature"],
        }
        data_partner = {
            "participant": channel.partner_address,
            "total_withdraw": str(message.total_withdraw),
            "expiration": str(message.expiration),
            "participant_signature": _signature_hex(message.signature),
            "partner_signature": _signature_hex(confirmation.signature),
        }
        _coop_operation(node, channel, data_ours, data_partner)
        return Outcome(replies, {"coop_settle": "submitted"})
    our_total = _coop_total(state, state.our, state.partner)
    if our_total > state.our.withdrawn:
        request_state, request_nonce = send_withdraw_request(state, our_total, message.expiration)
        request = WithdrawRequest(
            message_identifier=message_identifier_new(),
            chain_id=message.chain_id,
            token_network_address=message.token_network_address,
            channel_identifier=message.channel_identifier,
            participant=node.address,
            total_withdraw=our_total,
            nonce=request_nonce,
            expiration=message.expiration,
            coop_settle=True,
        ).signed(node_account(node).signer)
        channel_state_save(channel, request_state)
        replies.append(message_record(node, channel.partner_address, request, channel))
    return Outcome(replies, {"coop_settle": True})


def _coop_confirmation_received(
    node: Node, channel: Channel, confirmation: WithdrawConfirmation, ours: WithdrawRequest, context: Context
) -> Outcome:
    """The partner confirmed our coop-settle request. Once we also confirmed its request, submit."""
    partner_request = (
        Message.objects.filter(
            sender=channel.partner_address,
            recipient=node.address,
            kind=WithdrawRequest.TYPE,
            token_network_id=channel.network_channel.token_network_id,
            channel_identifier=channel.network_channel.identifier,
            payload__coop_settle=True,
        )
        .order_by("-pk")
        .first()
    )
    our_confirmation = None
    if partner_request is not None:
        our_confirmation = Message.objects.filter(
            sender=node.address, kind=WithdrawConfirmation.TYPE, message_identifier=partner_request.message_identifier
        ).first()
    data_ours = {
        "participant": node.address,
        "total_withdraw": str(confirmation.total_withdraw),
        "expiration": str(confirmation.expiration),
        "participant_signature": _signature_hex(ours.signature),
        "partner_signature": _signature_hex(confirmation.signature),
    }
    if partner_request is None:
        # The partner has nothing left in the channel: only our side withdraws.
        data_partner = None
    elif our_confirmation is None:
        return Outcome([], {"coop_settle": "waiting for the partner's request"})
    else:
        data_partner = {
            "participant": channel.partner_address,
            "total_withdraw": partner_request.payload["total_withdraw"],
            "expiration": partner_request.payload["expiration"],
            "participant_signature": partner_request.payload["signature"],
            "partner_signature": our_confirmation.payload["signature"],
        }
    _coop_operation(node, channel, data_ours, data_partner)
    return Outcome([], {"coop_settle": "submitted"})


def _coop_operation(node: Node, channel: Channel, data_ours: dict, data_partner: dict | None) -> None:
    nc = channel.network_channel
    if data_partner is None:
        data_partner = {
            "participant": channel.partner_address,
            "total_withdraw": "0",
            "expiration": data_ours["expiration"],
            "participant_signature": "0x" + "00" * 65,
            "partner_signature": "0x" + "00" * 65,
        }
    first, second = (data_ours, data_partner) if channel.is_participant1 else (data_partner, data_ours)
    operation_create(
        node=node,
        kind=ChainOperation.Kind.CHANNEL_COOP_SETTLE,
        args={
            "token_network": nc.token_network.address,
            "channel_identifier": str(nc.identifier),
            "data1": first,
            "data2": second,
        },
        serial_key=f"channel:{nc.token_network.address}:{nc.identifier}",
        dedupe_key=f"coop_settle:{nc.pk}",
        channel=channel,
    )
