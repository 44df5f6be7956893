"""The UserDeposit contract (UDC): deposit, plan a withdraw, withdraw."""

from __future__ import annotations

from django.db import transaction

from raidennode.chain.errors import RpcUnavailable
from raidennode.chain.proxies import TokenProxy, UserDepositProxy
from raidennode.errors import Conflict, InsufficientFunds, NotFound
from raidennode.nodes.models import Node
from raidennode.protocol.constants import UINT256_MAX

from ..models import ChainOperation
from .chain import chain, deployment_get, rpc_unavailable_error
from .operations import operation_create, operation_run


def _udc(node: Node) -> UserDepositProxy:
    deployment = deployment_get()
    if not deployment.user_deposit:
        raise NotFound("No UserDeposit contract is configured.")
    return UserDepositProxy(chain(), deployment.user_deposit)


def _run(node: Node, kind: str, args: dict) -> dict:
    with transaction.atomic():
        op, _ = operation_create(node=node, kind=kind, args=args, serial_key=f"udc:{node.pk}")
    return operation_run(op).result


def udc_deposit(node: Node, total_deposit: int) -> dict:
    """Raises the node's total UDC deposit to ``total_deposit``; {"transaction_hash"}.

    Raises NotFound (no UDC), Conflict, InsufficientFunds.
    """
    try:
        udc = _udc(node)
        current = udc.total_deposit(node.address)
        if total_deposit <= current:
            raise Conflict("Total deposit did not increase.")
        increase = total_deposit - current
        if total_deposit > UINT256_MAX:
            raise Conflict("Deposit overflow.")
        if udc.whole_balance() + increase > udc.whole_balance_limit():
            raise Conflict(f"Deposit of {increase} would have exceeded the UDC balance limit.")
        balance = TokenProxy(chain(), udc.token()).balance_of(node.address)
        if increase > balance:
            raise InsufficientFunds(f"Not enough balance to deposit. Available={balance} Needed={increase}")
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    result = _run(node, ChainOperation.Kind.UDC_DEPOSIT, {"total_deposit": str(total_deposit)})
    return {"transaction_hash": result["transaction_hash"]}


def udc_plan_withdraw(node: Node, amount: int) -> dict:
    """Plans a UDC withdraw; {"transaction_hash", "planned_withdraw_block_number"}."""
    try:
        udc = _udc(node)
        if amount <= 0:
            raise Conflict("Withdraw amount must be greater than zero.")
        balance = udc.balance(node.address)
        if amount > balance:
            raise Conflict(f"The withdraw of {amount} is bigger than the current balance of {balance}.")
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    result = _run(node, ChainOperation.Kind.UDC_PLAN_WITHDRAW, {"amount": str(amount)})
    return {
        "transaction_hash": result["transaction_hash"],
        "planned_withdraw_block_number": int(result["planned_withdraw_block_number"]),
    }


def udc_withdraw(node: Node, amount: int) -> dict:
    """Withdraws a planned amount from the UDC once its block has come; {"transaction_hash"}."""
    try:
        udc = _udc(node)
        if amount <= 0:
            raise Conflict("Withdraw amount must be greater than zero.")
        planned_amount, planned_block = udc.withdraw_plan(node.address)
        if amount > planned_amount:
            raise Conflict("Withdrawing more than planned.")
        current_block = chain().block_number()
        if current_block < planned_block:
            raise Conflict(
                f"Withdrawing too early. Planned withdraw at block {planned_block}. Current block: {current_block}."
            )
        if amount > udc.whole_balance():
            raise Conflict("Whole balance underflow.")
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    result = _run(node, ChainOperation.Kind.UDC_WITHDRAW, {"amount": str(amount)})
    return {"transaction_hash": result["transaction_hash"]}
