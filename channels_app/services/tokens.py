"""Registering tokens (deploying token networks) and minting test tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from raidennode.chain.errors import RpcUnavailable, TransactionReverted
from raidennode.chain.proxies import TokenNetworkRegistryProxy, TokenProxy
from raidennode.errors import Conflict, InvalidInput, NotImplementedInProduction
from raidennode.nodes.models import Node
from raidennode.protocol.constants import NULL_ADDRESS

from ..models import ChainOperation, TokenNetwork
from ..selectors import token_network_by_token
from .chain import chain, deployment_get, rpc_unavailable_error
from .operations import operation_create, operation_run
from .waiting import wait_for_chain


def token_register(node: Node, token_address: str) -> TokenNetwork:
    """Deploys the token network of ``token_address`` in the registry (unlimited deposits).

    Blocks until TokenNetworkCreated is confirmed and applied. Raises NotImplementedInProduction,
    Conflict (registered already, not an ERC20), Forbidden (registry full), InsufficientFunds.
    """
    if settings.PRODUCTION:
        raise NotImplementedInProduction("Registering a new token is currently disabled in production mode")
    if token_address == NULL_ADDRESS:
        raise Conflict("token_address must be non-zero")
    deployment = deployment_get()
    if token_network_by_token(token_address) is not None:
        raise Conflict("Token already registered")
    client = chain()
    try:
        if TokenNetworkRegistryProxy(client, deployment.token_network_registry).token_network(token_address):
            raise Conflict("Token already registered")
        if not client.code(token_address):
            raise Conflict(f"Address {token_address} does not contain code")
        try:
            TokenProxy(client, token_address).total_supply()
        except (TransactionReverted, ValueError) as exc:
            raise Conflict("Given token address does not follow the ERC20 standard (missing `totalSupply()`)") from exc
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    with transaction.atomic():
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.TOKEN_REGISTER,
            args={"token_address": token_address},
            serial_key=f"register:{token_address}",
            dedupe_key=f"register:{token_address}",
        )
    operation_run(op)
    return wait_for_chain(lambda: token_network_by_token(token_address), f"The registration of token {token_address}")


def token_mint(node: Node, token_address: str, to: str, value: int) -> str:
    """Calls mintFor(value, to) on a test token from the node's account; the transaction hash.

    Raises NotImplementedInProduction, InvalidInput ("Minting failed: ..."), InsufficientFunds.
    """
    if settings.PRODUCTION:
        raise NotImplementedInProduction("Minting a token is currently disabled in production mode")
    deployment_get()
    try:
        has_code = bool(chain().code(token_address))
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    if not has_code:
        # mintFor sent to an account without code would succeed and mint nothing.
        raise InvalidInput(f"Minting failed: Address {token_address} does not contain code")
    with transaction.atomic():
        op, _ = operation_create(
            node=node,
            kind=ChainOperation.Kind.TOKEN_MINT,
            args={"token_address": token_address, "to": to, "value": str(value)},
            serial_key=f"mint:{node.pk}",
        )
    return operation_run(op).result["transaction_hash"]
