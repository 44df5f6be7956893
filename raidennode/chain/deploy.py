"""Deploying the Raiden contracts 0.40.0 as the reference deployment wires them (dev chains).

Used by ``manage.py devnet`` and by the test suite. Transactions are sent one after the other
from a single deployer key, so a local nonce counter is enough here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from eth_account import Account
from eth_utils import to_checksum_address

from raidennode.protocol.constants import UINT256_MAX

from .client import ChainClient
from .contracts import (
    CUSTOM_TOKEN,
    MONITORING_SERVICE,
    ONE_TO_N,
    SECRET_REGISTRY,
    SERVICE_REGISTRY,
    TOKEN_NETWORK_REGISTRY,
    USER_DEPOSIT,
    contract,
)
from .errors import ChainError, TransactionReverted
from .proxies import TokenNetworkRegistryProxy
from .transactions import gas_with_margin, sign_transaction

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RaidenDeployment:
    chain_id: int
    token_network_registry: str
    secret_registry: str
    service_token: str
    service_registry: str
    user_deposit: str
    monitoring_service: str
    one_to_n: str
    start_block: int
    settlement_timeout_min: int
    settlement_timeout_max: int
    max_token_networks: int

    def as_dict(self) -> dict:
        return asdict(self)


class Deployer:
    """Sends transactions from one key, sequentially, waiting for each receipt."""

    def __init__(self, client: ChainClient, private_key: bytes, receipt_timeout: float = 60.0) -> None:
        self.client = client
        self.private_key = private_key
        self.address = Account.from_key(private_key).address
        self.receipt_timeout = receipt_timeout

    def send(self, to: str | None, data: bytes, value: int = 0) -> dict:
        gas = gas_with_margin(self.client.estimate_gas(self.address, to, data, value))
        max_fee, priority = self.client.fees()
        signed = sign_transaction(
            self.private_key,
            chain_id=self.client.chain_id,
            nonce=self.client.nonce(self.address),
            to=to,
            data=data,
            gas=gas,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            value=value,
        )
        self.client.send_raw(signed.raw)
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            receipt = self.client.receipt(signed.transaction_hash)
            if receipt is not None:
                break
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {signed.transaction_hash} not mined in time")
            time.sleep(0.02)
        if receipt["status"] != 1:
            raise TransactionReverted(self.client.revert_reason(signed.transaction_hash), signed.transaction_hash)
        return receipt

    def deploy(self, name: str, *args) -> tuple[str, int]:
        """(address, block) of a new instance of contract ``name``."""
        receipt = self.send(None, contract(name).deploy_data(*args))
        return to_checksum_address(receipt["contract_address"]), receipt["block_number"]

    def call(self, name: str, address: str, function: str, *args) -> dict:
        return self.send(address, contract(name).fn(function).encode(*args))


def deploy_raiden(
    deployer: Deployer,
    *,
    settlement_timeout_min: int,
    settlement_timeout_max: int,
    max_token_networks: int = UINT256_MAX,
    progress: Progress = lambda line: None,
) -> RaidenDeployment:
    """SecretRegistry, TokenNetworkRegistry and the service contracts (service token,
    ServiceRegistry, UserDeposit, OneToN, MonitoringService), wired like the reference."""
    secret_registry, start_block = deployer.deploy(SECRET_REGISTRY)
    progress(f"deployed SecretRegistry at {secret_registry}")
    registry, _ = deployer.deploy(
        TOKEN_NETWORK_REGISTRY, secret_registry, settlement_timeout_min, settlement_timeout_max, max_token_networks
    )
    progress(
        f"deployed TokenNetworkRegistry at {registry} "
        f"(settle timeout {settlement_timeout_min}..{settlement_timeout_max} blocks)"
    )
    service_token = deploy_token(deployer, 10**27, 18, "ServiceToken", "SVT")
    progress(f"deployed service token at {service_token}")
    service_registry, _ = deployer.deploy(
        SERVICE_REGISTRY, service_token, deployer.address, 1, 1, 1, 17280000, 1, 15552000
    )
    progress(f"deployed ServiceRegistry at {service_registry}")
    user_deposit, _ = deployer.deploy(USER_DEPOSIT, service_token, UINT256_MAX)
    progress(f"deployed UserDeposit at {user_deposit}")
    chain_id = deployer.client.chain_id
    one_to_n, _ = deployer.deploy(ONE_TO_N, user_deposit, chain_id, service_registry)
    progress(f"deployed OneToN at {one_to_n}")
    monitoring_service, _ = deployer.deploy(MONITORING_SERVICE, service_token, service_registry, user_deposit, registry)
    progress(f"deployed MonitoringService at {monitoring_service}")
    deployer.call(USER_DEPOSIT, user_deposit, "init", monitoring_service, one_to_n)
    progress("initialised UserDeposit with MonitoringService and OneToN")
    return RaidenDeployment(
        chain_id=chain_id,
        token_network_registry=registry,
        secret_registry=secret_registry,
        service_token=service_token,
        service_registry=service_registry,
        user_deposit=user_deposit,
        monitoring_service=monitoring_service,
        one_to_n=one_to_n,
        start_block=start_block,
        settlement_timeout_min=settlement_timeout_min,
        settlement_timeout_max=settlement_timeout_max,
        max_token_networks=max_token_networks,
    )


def deploy_token(deployer: Deployer, supply: int, decimals: int, name: str, symbol: str) -> str:
    """A CustomToken (anyone may mintFor) owned by the deployer."""
    address, _ = deployer.deploy(CUSTOM_TOKEN, supply, decimals, name, symbol)
    return address


def register_token_network(deployer: Deployer, registry: str, token: str) -> str:
    """createERC20TokenNetwork(token, unlimited, unlimited); the new TokenNetwork's address."""
    deployer.call(TOKEN_NETWORK_REGISTRY, registry, "createERC20TokenNetwork", token, UINT256_MAX, UINT256_MAX)
    token_network = TokenNetworkRegistryProxy(deployer.client, registry).token_network(token)
    if token_network is None:
        raise ChainError(f"token network of {token} not found after registration")
    return token_network


def fund_eth(deployer: Deployer, address: str, wei: int) -> None:
    deployer.send(to_checksum_address(address), b"", value=wei)


def mint_tokens(deployer: Deployer, token: str, address: str, amount: int) -> None:
    deployer.call(CUSTOM_TOKEN, token, "mintFor", amount, to_checksum_address(address))
