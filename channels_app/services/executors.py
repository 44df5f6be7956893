"""What each kind of chain operation does on chain, run inside ``operation_execute``.

Every executor first reads the chain to see whether its goal is already reached (a re-run after
a crash, a race with the partner or with an identical request) and then sends only what is
missing. They raise OperationFailed with the spec's message for a failure the caller must see,
and let chain errors (revert, no ETH, RPC down) through to ``operation_execute``.
"""

from __future__ import annotations

from collections.abc import Callable

from raidennode.chain.errors import TransactionReverted
from raidennode.chain.events import decode_log
from raidennode.chain.proxies import (
    SecretRegistryProxy,
    TokenNetworkProxy,
    TokenNetworkRegistryProxy,
    TokenProxy,
    UserDepositProxy,
    WithdrawInput,
)
from raidennode.protocol.addresses import address_to_bytes
from raidennode.protocol.constants import EMPTY_HASH, EMPTY_SIGNATURE, UINT256_MAX, ChainChannelState, MessageTypeId
from raidennode.protocol.hashing import sha256
from raidennode.protocol.packing import pack_signed_balance_proof
from raidennode.protocol.settlement import settlement_order

from ..balance_proofs import balance_proof_source
from ..models import ChainOperation, Deployment
from .operations import OperationContext, OperationFailed


def _deployment() -> Deployment:
    return Deployment.objects.get()


def _approve(ctx: OperationContext, token: TokenProxy, spender: str, amount: int) -> None:
    """Makes sure ``spender`` may pull ``amount`` tokens from the node."""
    if token.allowance(ctx.address, spender) < amount:
        ctx.transact("approve", token.address, token.approve_data(spender, amount))


def _check_token_balance(ctx: OperationContext, token: TokenProxy, needed: int, prefix: str) -> None:
    balance = token.balance_of(ctx.address)
    if needed > balance:
        raise OperationFailed(
            "insufficient_funds", f"Not enough balance to deposit. {prefix}Available={balance} Needed={needed}"
        )


def token_register(ctx: OperationContext) -> dict:
    token_address = ctx.op.args["token_address"]
    registry = TokenNetworkRegistryProxy(ctx.client, _deployment().token_network_registry)
    existing = registry.token_network(token_address)
    if existing is not None:
        if ctx.has_transaction("create_token_network"):  # registered by an earlier attempt
            return {"token_network_address": existing}
        raise OperationFailed("conflict", "Token already registered")
    maximum = registry.max_token_networks()
    if registry.token_network_created() >= maximum:
        raise OperationFailed("forbidden", f"Number of token networks will exceed the maximum of {maximum}")
    receipt = ctx.transact(
        "create_token_network",
        registry.address,
        registry.create_token_network_data(token_address, UINT256_MAX, UINT256_MAX),
    )
    created = registry.token_network(token_address)
    return {"token_network_address": created, "transaction_hash": receipt["transaction_hash"]}


def token_mint(ctx: OperationContext) -> dict:
    args = ctx.op.args
    token = TokenProxy(ctx.client, args["token_address"])
    try:
        receipt = ctx.transact("mint", token.address, token.mint_for_data(int(args["value"]), args["to"]))
    except TransactionReverted as exc:
        raise OperationFailed(
            "invalid",
            "Minting failed: Gas estimation failed. Make sure the token has a method named "
            f"mintFor(uint256,address). ({exc.reason})",
        ) from exc
    return {"transaction_hash": receipt["transaction_hash"]}


def _opened_identifier(receipt: dict) -> int | None:
    for raw in receipt.get("logs", []):
        log = decode_log(raw)
        if log is not None and log.name == "ChannelOpened":
            return log.args["channel_identifier"]
    return None


def channel_open(ctx: OperationContext) -> dict:
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    partner = args["partner"]
    existing = network.channel_identifier(ctx.address, partner)
    if existing:
        # Opened already: by us on an earlier attempt, or by the partner at the same time.
        return {"channel_identifier": str(existing), "opened_by_us": ctx.has_transaction("open")}
    settle_timeout = int(args["settle_timeout"])
    total_deposit = int(args.get("total_deposit") or 0)
    if total_deposit:
        token = TokenProxy(ctx.client, args["token_address"])
        _check_token_balance(ctx, token, total_deposit, f"{token.address} ")
        _approve(ctx, token, network.address, total_deposit)
        data = network.open_channel_with_deposit_data(ctx.address, partner, settle_timeout, total_deposit)
    else:
        data = network.open_channel_data(ctx.address, partner, settle_timeout)
    try:
        receipt = ctx.transact("open", network.address, data)
    except TransactionReverted:
        # The partner (hosted elsewhere) opened the channel between our check and our
        # transaction: Raiden treats that as a race, and the caller deposits afterwards.
        existing = network.channel_identifier(ctx.address, partner)
        if existing:
            return {"channel_identifier": str(existing), "opened_by_us": False}
        raise
    identifier = _opened_identifier(receipt) or network.channel_identifier(ctx.address, partner)
    return {
        "channel_identifier": str(identifier),
        "opened_by_us": True,
        "transaction_hash": receipt["transaction_hash"],
    }


def channel_deposit(ctx: OperationContext) -> dict:
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier = int(args["channel_identifier"])
    total_deposit = int(args["total_deposit"])
    _, state = network.channel_info(identifier, ctx.address, args["partner"])
    if state != ChainChannelState.OPENED:
        raise OperationFailed("conflict", "Can't set total deposit on a closed channel")
    current = network.participant_info(identifier, ctx.address, args["partner"]).deposit
    if current >= total_deposit:
        return {"total_deposit": str(current)}  # reached already (identical request, re-run)
    increase = total_deposit - current
    token = TokenProxy(ctx.client, args["token_address"])
    _check_token_balance(ctx, token, increase, f"{token.address} ")
    _approve(ctx, token, network.address, increase)
    receipt = ctx.transact(
        "deposit",
        network.address,
        network.set_total_deposit_data(identifier, ctx.address, total_deposit, args["partner"]),
    )
    return {"total_deposit": str(total_deposit), "transaction_hash": receipt["transaction_hash"]}


def channel_close(ctx: OperationContext) -> dict:
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier = int(args["channel_identifier"])
    partner = args["partner"]
    _, state = network.channel_info(identifier, ctx.address, partner)
    if state != ChainChannelState.OPENED:
        if state == ChainChannelState.CLOSED and ctx.has_transaction("close"):
            return {}  # closed by our transaction of an earlier attempt
        raise OperationFailed("conflict", "Attempted to close an already closed channel")
    proof = balance_proof_source().partner_balance_proof(ctx.op.channel)
    if proof is None:
        balance_hash, nonce, additional_hash, partner_signature = EMPTY_HASH, 0, EMPTY_HASH, EMPTY_SIGNATURE
    else:
        balance_hash, nonce = proof.balance_hash, proof.nonce
        additional_hash, partner_signature = proof.additional_hash, proof.signature
    closing_signature = ctx.account.sign_message(
        pack_signed_balance_proof(
            address_to_bytes(network.address),
            ctx.client.chain_id,
            identifier,
            balance_hash,
            nonce,
            additional_hash,
            partner_signature,
            MessageTypeId.BALANCE_PROOF,
        )
    )
    receipt = ctx.transact(
        "close",
        network.address,
        network.close_channel_data(
            identifier, partner, ctx.address, balance_hash, nonce, additional_hash, partner_signature, closing_signature
        ),
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def secret_register(ctx: OperationContext) -> dict:
    """registerSecret on the SecretRegistry, unless the secret is registered already.

    The caller (the payments duty) starts it early enough for the registration to be mined
    before the lock's expiration block; a registration mined at or after it cannot claim the lock.
    """
    secret = bytes.fromhex(ctx.op.args["secret"][2:])
    registry = SecretRegistryProxy(ctx.client, _deployment().secret_registry)
    if registry.is_secret_registered(sha256(secret)):
        return {}
    receipt = ctx.transact("register", registry.address, registry.register_secret_data(secret))
    return {"transaction_hash": receipt["transaction_hash"]}


def channel_settle(ctx: OperationContext) -> dict:
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier = int(args["channel_identifier"])
    us, partner = ctx.address, args["partner"]
    settle_block, state = network.channel_info(identifier, us, partner)
    if state in (ChainChannelState.SETTLED, ChainChannelState.REMOVED, ChainChannelState.NON_EXISTENT):
        return {}  # settled already (by the partner, or by an earlier attempt)
    if state != ChainChannelState.CLOSED:
        raise OperationFailed("conflict", "The channel is not closed")
    if ctx.client.block_number() <= settle_block:
        raise OperationFailed(
            "conflict", f"The channel is inside its settlement window, which ends at block {settle_block}"
        )
    source = balance_proof_source()
    data = {}
    for participant, other in ((us, partner), (partner, us)):
        info = network.participant_info(identifier, participant, other)
        balance = source.balance_data(ctx.op.channel, participant, info.balance_hash)
        if balance is None:
            raise OperationFailed(
                "conflict",
                f"No balance proof of {participant} with hash 0x{info.balance_hash.hex()} is known; "
                "the channel cannot be settled by this node",
            )
        data[participant] = balance
    (p1, d1), (p2, d2) = settlement_order((us, data[us]), (partner, data[partner]))
    receipt = ctx.transact(
        "settle",
        network.address,
        network.settle_channel_data(
            identifier,
            p1,
            d1.transferred_amount,
            d1.locked_amount,
            d1.locksroot,
            p2,
            d2.transferred_amount,
            d2.locked_amount,
            d2.locksroot,
        ),
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def channel_withdraw(ctx: OperationContext) -> dict:
    """setTotalWithdraw with both signatures of the off-chain withdraw (spec 2.5)."""
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier, total, expiration = (
        int(args["channel_identifier"]),
        int(args["total_withdraw"]),
        int(args["expiration"]),
    )
    if network.participant_info(identifier, ctx.address, args["partner"]).withdrawn >= total:
        return {}  # on chain already (an earlier attempt)
    if ctx.client.block_number() + 1 >= expiration:
        raise OperationFailed("conflict", f"The withdraw expired (at block {expiration}) before it could be sent")
    receipt = ctx.transact(
        "withdraw",
        network.address,
        network.set_total_withdraw_data(
            identifier,
            ctx.address,
            total,
            expiration,
            _hex(args["participant_signature"]),
            _hex(args["partner_signature"]),
        ),
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def channel_update(ctx: OperationContext) -> dict:
    """updateNonClosingBalanceProof: the closer's latest balance proof we hold, counter-signed (type 2)."""
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier, partner = int(args["channel_identifier"]), args["partner"]
    proof = balance_proof_source().partner_balance_proof(ctx.op.channel)
    if proof is None:
        return {}
    _, state = network.channel_info(identifier, ctx.address, partner)
    if state != ChainChannelState.CLOSED:
        return {}  # settled already: too late to matter
    if network.participant_info(identifier, partner, ctx.address).nonce >= proof.nonce:
        return {}  # the chain holds this proof (or a newer one) already
    non_closing_signature = ctx.account.sign_message(
        pack_signed_balance_proof(
            address_to_bytes(network.address),
            ctx.client.chain_id,
            identifier,
            proof.balance_hash,
            proof.nonce,
            proof.additional_hash,
            proof.signature,
            MessageTypeId.BALANCE_PROOF_UPDATE,
        )
    )
    receipt = ctx.transact(
        "update",
        network.address,
        network.update_non_closing_balance_proof_data(
            identifier,
            partner,
            ctx.address,
            proof.balance_hash,
            proof.nonce,
            proof.additional_hash,
            proof.signature,
            non_closing_signature,
        ),
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def channel_unlock(ctx: OperationContext) -> dict:
    """unlock(receiver, sender, locks) of a settled channel whose locks stayed in the contract."""
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier, receiver, sender = int(args["channel_identifier"]), args["receiver"], args["sender"]
    info = network.participant_info(identifier, sender, receiver)
    if info.locked_amount == 0:
        return {}  # unlocked already (by us on an earlier attempt, or by the other side)
    locks = balance_proof_source().locks(ctx.op.channel, sender, info.locksroot)
    if locks is None:
        raise OperationFailed("conflict", f"the locks of root 0x{info.locksroot.hex()} are not known")
    receipt = ctx.transact(
        "unlock", network.address, network.unlock_data(identifier, receiver, sender, b"".join(locks))
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def channel_coop_settle(ctx: OperationContext) -> dict:
    """cooperativeSettle with the withdraw messages both participants signed for each other."""
    args = ctx.op.args
    network = TokenNetworkProxy(ctx.client, args["token_network"])
    identifier = int(args["channel_identifier"])
    _, state = network.channel_info(identifier, args["data1"]["participant"], args["data2"]["participant"])
    if state != ChainChannelState.OPENED:
        if state in (
            ChainChannelState.SETTLED,
            ChainChannelState.REMOVED,
            ChainChannelState.NON_EXISTENT,
        ) and ctx.has_transaction("coop_settle"):
            return {}
        raise OperationFailed("conflict", "The channel is not open any more")

    def side(data: dict) -> WithdrawInput:
        return WithdrawInput(
            data["participant"],
            int(data["total_withdraw"]),
            int(data["expiration"]),
            _hex(data["participant_signature"]),
            _hex(data["partner_signature"]),
        )

    receipt = ctx.transact(
        "coop_settle",
        network.address,
        network.cooperative_settle_data(identifier, side(args["data1"]), side(args["data2"])),
    )
    return {"transaction_hash": receipt["transaction_hash"]}


def udc_deposit(ctx: OperationContext) -> dict:
    udc = UserDepositProxy(ctx.client, _deployment().user_deposit)
    total = int(ctx.op.args["total_deposit"])
    current = udc.total_deposit(ctx.address)
    if current >= total:
        if ctx.has_transaction("deposit"):  # deposited by an earlier attempt
            return {"transaction_hash": ctx.transact("deposit", udc.address, b"")["transaction_hash"]}
        raise OperationFailed("conflict", "Total deposit did not increase.")
    increase = total - current
    token = TokenProxy(ctx.client, udc.token())
    _check_token_balance(ctx, token, increase, "")
    _approve(ctx, token, udc.address, increase)
    receipt = ctx.transact("deposit", udc.address, udc.deposit_data(ctx.address, total))
    return {"transaction_hash": receipt["transaction_hash"]}


def udc_plan_withdraw(ctx: OperationContext) -> dict:
    udc = UserDepositProxy(ctx.client, _deployment().user_deposit)
    amount = int(ctx.op.args["amount"])
    receipt = ctx.transact("plan_withdraw", udc.address, udc.plan_withdraw_data(amount))
    _, withdraw_block = udc.withdraw_plan(ctx.address)
    return {"transaction_hash": receipt["transaction_hash"], "planned_withdraw_block_number": withdraw_block}


def udc_withdraw(ctx: OperationContext) -> dict:
    udc = UserDepositProxy(ctx.client, _deployment().user_deposit)
    amount = int(ctx.op.args["amount"])
    receipt = ctx.transact("withdraw", udc.address, udc.withdraw_data(amount))
    return {"transaction_hash": receipt["transaction_hash"]}


EXECUTORS: dict[str, Callable[[OperationContext], dict]] = {
    ChainOperation.Kind.TOKEN_REGISTER: token_register,
    ChainOperation.Kind.TOKEN_MINT: token_mint,
    ChainOperation.Kind.CHANNEL_OPEN: channel_open,
    ChainOperation.Kind.CHANNEL_DEPOSIT: channel_deposit,
    ChainOperation.Kind.CHANNEL_CLOSE: channel_close,
    ChainOperation.Kind.CHANNEL_SETTLE: channel_settle,
    ChainOperation.Kind.CHANNEL_WITHDRAW: channel_withdraw,
    ChainOperation.Kind.CHANNEL_UPDATE: channel_update,
    ChainOperation.Kind.CHANNEL_UNLOCK: channel_unlock,
    ChainOperation.Kind.CHANNEL_COOP_SETTLE: channel_coop_settle,
    ChainOperation.Kind.SECRET_REGISTER: secret_register,
    ChainOperation.Kind.UDC_DEPOSIT: udc_deposit,
    ChainOperation.Kind.UDC_PLAN_WITHDRAW: udc_plan_withdraw,
    ChainOperation.Kind.UDC_WITHDRAW: udc_withdraw,
}
