"""Typed views and call data of the Raiden contracts, one small class per contract.

Views read the chain through a ChainClient. Methods named ``*_data`` only encode call data: the
caller (a chain operation) decides who signs and sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from raidennode.protocol.constants import ChainChannelState

from .client import ChainClient
from .contracts import (
    CUSTOM_TOKEN,
    MONITORING_SERVICE,
    ONE_TO_N,
    SECRET_REGISTRY,
    TOKEN_NETWORK,
    TOKEN_NETWORK_REGISTRY,
    USER_DEPOSIT,
    contract,
)

NULL_ADDRESS = "0x0000000000000000000000000000000000000000"


class _Proxy:
    contract_name = ""

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.abi = contract(self.contract_name)

    def _view(self, name: str, *args, block: int | str = "latest"):
        fn = self.abi.fn(name)
        values = fn.decode_output(self.client.call(self.address, fn.encode(*args), block))
        return values[0] if len(values) == 1 else values

    def _data(self, name: str, *args) -> bytes:
        return self.abi.fn(name).encode(*args)


class TokenNetworkRegistryProxy(_Proxy):
    contract_name = TOKEN_NETWORK_REGISTRY

    def token_network(self, token_address: str) -> str | None:
        found = to_checksum_address(self._view("token_to_token_networks", token_address))
        return None if found == NULL_ADDRESS else found

    def settlement_timeout_min(self) -> int:
        return self._view("settlement_timeout_min")

    def settlement_timeout_max(self) -> int:
        return self._view("settlement_timeout_max")

    def max_token_networks(self) -> int:
        return self._view("max_token_networks")

    def token_network_created(self) -> int:
        return self._view("token_network_created")

    def secret_registry_address(self) -> str:
        return to_checksum_address(self._view("secret_registry_address"))

    def create_token_network_data(self, token_address: str, participant_limit: int, network_limit: int) -> bytes:
        return self._data("createERC20TokenNetwork", token_address, participant_limit, network_limit)


@dataclass(frozen=True)
class ParticipantInfo:
    deposit: int
    withdrawn: int
    is_closer: bool
    balance_hash: bytes
    nonce: int
    locksroot: bytes
    locked_amount: int


@dataclass(frozen=True)
class WithdrawInput:
    """One side of cooperativeSettle (the contract's WithdrawInput struct): the 200-byte withdraw
    message of ``participant`` (spec 2.5) signed by the participant and by its partner."""

    participant: str
    total_withdraw: int
    expiration_block: int
    participant_signature: bytes
    partner_signature: bytes

    def as_tuple(self) -> tuple[str, int, int, bytes, bytes]:
        return (
            self.participant,
            self.total_withdraw,
            self.expiration_block,
            self.participant_signature,
            self.partner_signature,
        )


class TokenNetworkProxy(_Proxy):
    contract_name = TOKEN_NETWORK

    def token(self) -> str:
        return to_checksum_address(self._view("token"))

    def channel_identifier(self, participant: str, partner: str, block: int | str = "latest") -> int:
        return self._view("getChannelIdentifier", participant, partner, block=block)

    def channel_info(
        self, identifier: int, p1: str, p2: str, block: int | str = "latest"
    ) -> tuple[int, ChainChannelState]:
        settle_block_number, state = self._view("getChannelInfo", identifier, p1, p2, block=block)
        return settle_block_number, ChainChannelState(state)

    def participant_info(
        self, identifier: int, participant: str, partner: str, block: int | str = "latest"
    ) -> ParticipantInfo:
        return ParticipantInfo(*self._view("getChannelParticipantInfo", identifier, participant, partner, block=block))

    def channel_counter(self) -> int:
        """The identifier of the newest channel (0 before the first openChannel)."""
        return self._view("channel_counter")

    def participants_hash(self, participant: str, partner: str) -> bytes:
        """keccak256(lower address || higher address): the pair's key (spec 3.2)."""
        return self._view("getParticipantsHash", participant, partner)

    def unlock_identifier(self, identifier: int, sender: str, receiver: str) -> bytes:
        """keccak256(channel_identifier || sender || receiver): the key of the unlock data."""
        return self._view("getUnlockIdentifier", identifier, sender, receiver)

    def channel_participant_deposit_limit(self) -> int:
        return self._view("channel_participant_deposit_limit")

    def token_network_deposit_limit(self) -> int:
        return self._view("token_network_deposit_limit")

    def deprecated(self) -> bool:
        return self._view("safety_deprecation_switch")

    def settlement_timeout_min(self) -> int:
        return self._view("settlement_timeout_min")

    def settlement_timeout_max(self) -> int:
        return self._view("settlement_timeout_max")

    def open_channel_data(self, participant1: str, participant2: str, settle_timeout: int) -> bytes:
        return self._data("openChannel", participant1, participant2, settle_timeout)

    def open_channel_with_deposit_data(
        self, participant1: str, participant2: str, settle_timeout: int, total_deposit: int
    ) -> bytes:
        return self._data("openChannelWithDeposit", participant1, participant2, settle_timeout, total_deposit)

    def set_total_deposit_data(self, identifier: int, participant: str, total_deposit: int, partner: str) -> bytes:
        return self._data("setTotalDeposit", identifier, participant, total_deposit, partner)

    def set_total_withdraw_data(
        self,
        identifier: int,
        participant: str,
        total_withdraw: int,
        expiration_block: int,
        participant_signature: bytes,
        partner_signature: bytes,
    ) -> bytes:
        """setTotalWithdraw: both signatures are over the same 200-byte withdraw message (spec 2.5)."""
        return self._data(
            "setTotalWithdraw",
            identifier,
            participant,
            total_withdraw,
            expiration_block,
            participant_signature,
            partner_signature,
        )

    def close_channel_data(
        self,
        identifier: int,
        non_closing_participant: str,
        closing_participant: str,
        balance_hash: bytes,
        nonce: int,
        additional_hash: bytes,
        non_closing_signature: bytes,
        closing_signature: bytes,
    ) -> bytes:
        return self._data(
            "closeChannel",
            identifier,
            non_closing_participant,
            closing_participant,
            balance_hash,
            nonce,
            additional_hash,
            non_closing_signature,
            closing_signature,
        )

    def update_non_closing_balance_proof_data(
        self,
        identifier: int,
        closing_participant: str,
        non_closing_participant: str,
        balance_hash: bytes,
        nonce: int,
        additional_hash: bytes,
        closing_signature: bytes,
        non_closing_signature: bytes,
    ) -> bytes:
        """updateNonClosingBalanceProof: the closer's balance proof (212 bytes signed by the closer)
        and the non-closer's type-2 counter-signature over it (277 bytes). Note the argument order:
        closing before non-closing, the reverse of closeChannel."""
        return self._data(
            "updateNonClosingBalanceProof",
            identifier,
            closing_participant,
            non_closing_participant,
            balance_hash,
            nonce,
            additional_hash,
            closing_signature,
            non_closing_signature,
        )

    def settle_channel_data(
        self,
        identifier: int,
        participant1: str,
        transferred1: int,
        locked1: int,
        locksroot1: bytes,
        participant2: str,
        transferred2: int,
        locked2: int,
        locksroot2: bytes,
    ) -> bytes:
        return self._data(
            "settleChannel",
            identifier,
            participant1,
            transferred1,
            locked1,
            locksroot1,
            participant2,
            transferred2,
            locked2,
            locksroot2,
        )

    def unlock_data(self, identifier: int, receiver: str, sender: str, locks: bytes) -> bytes:
        """unlock: ``locks`` is the sender's pending locks at settlement, 96 bytes each, in order."""
        return self._data("unlock", identifier, receiver, sender, locks)

    def cooperative_settle_data(self, identifier: int, data1: WithdrawInput, data2: WithdrawInput) -> bytes:
        """cooperativeSettle: the two withdraw totals must add up to the channel's deposits."""
        return self._data("cooperativeSettle", identifier, data1.as_tuple(), data2.as_tuple())


class TokenProxy(_Proxy):
    contract_name = CUSTOM_TOKEN  # only the ERC20 part is used for other tokens

    def balance_of(self, owner: str) -> int:
        return self._view("balanceOf", owner)

    def allowance(self, owner: str, spender: str) -> int:
        return self._view("allowance", owner, spender)

    def total_supply(self) -> int:
        return self._view("totalSupply")

    def approve_data(self, spender: str, value: int) -> bytes:
        return self._data("approve", spender, value)

    def transfer_data(self, to: str, value: int) -> bytes:
        return self._data("transfer", to, value)

    def mint_for_data(self, value: int, to: str) -> bytes:
        return self._data("mintFor", value, to)


class UserDepositProxy(_Proxy):
    contract_name = USER_DEPOSIT

    def token(self) -> str:
        return to_checksum_address(self._view("token"))

    def total_deposit(self, owner: str) -> int:
        return self._view("total_deposit", owner)

    def balance(self, owner: str) -> int:
        return self._view("balances", owner)

    def effective_balance(self, owner: str) -> int:
        return self._view("effectiveBalance", owner)

    def withdraw_plan(self, owner: str) -> tuple[int, int]:
        """(amount, withdraw_block) of the owner's planned withdraw; (0, 0) without a plan."""
        amount, block = self._view("withdraw_plans", owner)
        return amount, block

    def whole_balance(self) -> int:
        return self._view("whole_balance")

    def whole_balance_limit(self) -> int:
        return self._view("whole_balance_limit")

    def withdraw_delay(self) -> int:
        return self._view("withdraw_delay")

    def one_to_n_address(self) -> str:
        return to_checksum_address(self._view("one_to_n_address"))

    def msc_address(self) -> str:
        return to_checksum_address(self._view("msc_address"))

    def deposit_data(self, beneficiary: str, new_total_deposit: int) -> bytes:
        return self._data("deposit", beneficiary, new_total_deposit)

    def plan_withdraw_data(self, amount: int) -> bytes:
        return self._data("planWithdraw", amount)

    def withdraw_data(self, amount: int) -> bytes:
        return self._data("withdraw", amount)


class OneToNProxy(_Proxy):
    contract_name = ONE_TO_N

    def service_registry_address(self) -> str:
        return to_checksum_address(self._view("service_registry_contract"))

    def chain_id(self) -> int:
        """The chain id stored at deployment; IOUs sign this value (spec 2.6)."""
        return self._view("chain_id")

    def claim_data(self, sender: str, receiver: str, amount: int, expiration_block: int, signature: bytes) -> bytes:
        """claim: ``signature`` is the sender's over the 188-byte IOU (spec 2.6)."""
        return self._data("claim", sender, receiver, amount, expiration_block, signature)


class MonitoringServiceProxy(_Proxy):
    contract_name = MONITORING_SERVICE


class SecretRegistryProxy(_Proxy):
    contract_name = SECRET_REGISTRY

    def reveal_block(self, secrethash: bytes) -> int:
        return self._view("getSecretRevealBlockHeight", secrethash)

    def register_secret_data(self, secret: bytes) -> bytes:
        return self._data("registerSecret", secret)

    def register_secret_batch_data(self, secrets: list[bytes]) -> bytes:
        """registerSecretBatch: registers each 32-byte secret not registered yet."""
        return self._data("registerSecretBatch", list(secrets))

    def is_secret_registered(self, secrethash: bytes, block: int | str = "latest") -> bool:
        """Whether the secret of ``secrethash`` (sha256) is registered, in any block so far."""
        return self._view("getSecretRevealBlockHeight", secrethash, block=block) > 0
