"""The deployment's chain: its RPC client and the Deployment row (contracts, ingestion cursor)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from raidennode.chain.client import ChainClient, chain_client
from raidennode.chain.deploy import RaidenDeployment
from raidennode.chain.errors import RpcUnavailable
from raidennode.chain.proxies import OneToNProxy, TokenNetworkRegistryProxy, UserDepositProxy
from raidennode.errors import ServiceUnavailable

from ..models import Deployment


def chain() -> ChainClient:
    """The process-wide client of settings.ETH_RPC_URL."""
    return chain_client(settings.ETH_RPC_URL)


def deployment_get() -> Deployment:
    """The configured deployment; 503 when the node has not been attached to a chain yet."""
    deployment = Deployment.objects.first()
    if deployment is None:
        raise ServiceUnavailable("Service unavailable. Try again later.")
    return deployment


def rpc_unavailable_error(exc: RpcUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable(f"The Ethereum node at {settings.ETH_RPC_URL} is not reachable; try again later. ({exc})")


def deployment_create(raiden: RaidenDeployment, genesis_hash: str) -> Deployment:
    """Records a fresh deployment (devnet, tests); ingestion starts at its first block."""
    with transaction.atomic():
        Deployment.objects.all().delete()
        return Deployment.objects.create(
            chain_id=raiden.chain_id,
            genesis_hash=genesis_hash,
            token_network_registry=raiden.token_network_registry,
            secret_registry=raiden.secret_registry,
            service_registry=raiden.service_registry,
            user_deposit=raiden.user_deposit,
            monitoring_service=raiden.monitoring_service,
            one_to_n=raiden.one_to_n,
            settlement_timeout_min=raiden.settlement_timeout_min,
            settlement_timeout_max=raiden.settlement_timeout_max,
            max_token_networks=raiden.max_token_networks,
            start_block=raiden.start_block,
            synced_block=raiden.start_block - 1,
        )


def deployment_attach(registry_address: str, start_block: int, user_deposit: str | None = None) -> Deployment:
    """Attaches this deployment to existing Raiden contracts (hosted set-up).

    Everything else is read from the chain: the secret registry from the registry, OneToN and
    the MonitoringService from the UserDeposit contract, the ServiceRegistry from OneToN.
    Raises ServiceUnavailable when the Ethereum node is down, ValueError when a deployment to
    other contracts is already configured.
    """
    client = chain()
    try:
        registry = TokenNetworkRegistryProxy(client, registry_address)
        secret_registry = registry.secret_registry_address()
        one_to_n = monitoring_service = service_registry = None
        if user_deposit:
            udc = UserDepositProxy(client, user_deposit)
            one_to_n = udc.one_to_n_address()
            monitoring_service = udc.msc_address()
            service_registry = OneToNProxy(client, one_to_n).service_registry_address()
        fields = dict(
            chain_id=client.chain_id,
            genesis_hash=client.block(0)["hash"],
            secret_registry=secret_registry,
            service_registry=service_registry,
            user_deposit=user_deposit,
            monitoring_service=monitoring_service,
            one_to_n=one_to_n,
            settlement_timeout_min=registry.settlement_timeout_min(),
            settlement_timeout_max=registry.settlement_timeout_max(),
            max_token_networks=registry.max_token_networks(),
        )
    except RpcUnavailable as exc:
        raise rpc_unavailable_error(exc) from exc
    with transaction.atomic():
        existing = Deployment.objects.select_for_update().first()
        if existing is not None:
            if existing.token_network_registry != registry.address or existing.chain_id != fields["chain_id"]:
                raise ValueError(
                    f"this database already serves registry {existing.token_network_registry} "
                    f"on chain {existing.chain_id}"
                )
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.save()
            return existing
        return Deployment.objects.create(
            token_network_registry=registry.address, start_block=start_block, synced_block=start_block - 1, **fields
        )
