"""The contracts 0.40.0 data file as raidennode.chain.contracts reads it: selectors and event topics of spec 3.7."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode

from raidennode.chain.contracts import (
    CONTRACTS_VERSION,
    ONE_TO_N,
    SECRET_REGISTRY,
    TOKEN_NETWORK,
    TOKEN_NETWORK_REGISTRY,
    contract,
)
from raidennode.chain.proxies import OneToNProxy, SecretRegistryProxy, TokenNetworkProxy, WithdrawInput
from raidennode.protocol.constants import CONTRACTS_VERSION as PROTOCOL_CONTRACTS_VERSION


def test_version():
    assert CONTRACTS_VERSION == PROTOCOL_CONTRACTS_VERSION == "0.40.0"


@pytest.mark.parametrize(
    ("name", "function", "selector"),
    [
        (TOKEN_NETWORK, "openChannel", "0a798f24"),
        (TOKEN_NETWORK, "openChannelWithDeposit", "b79337bc"),
        (TOKEN_NETWORK, "setTotalDeposit", "63ea0143"),
        (TOKEN_NETWORK, "setTotalWithdraw", "9e67ca5f"),
        (TOKEN_NETWORK, "cooperativeSettle", "7313b25a"),
        (TOKEN_NETWORK, "closeChannel", "82fd7795"),
        (TOKEN_NETWORK, "updateNonClosingBalanceProof", "fadc554b"),
        (TOKEN_NETWORK, "settleChannel", "9cadb159"),
        (TOKEN_NETWORK, "unlock", "03d9d253"),
        (SECRET_REGISTRY, "registerSecret", "12ad8bfc"),
        (SECRET_REGISTRY, "registerSecretBatch", "bbe8a9b6"),
        (TOKEN_NETWORK_REGISTRY, "createERC20TokenNetwork", "cc2799c7"),
    ],
)
def test_selectors(name, function, selector):
    assert contract(name).fn(function).selector.hex() == selector


@pytest.mark.parametrize(
    ("name", "event", "topic0"),
    [
        (
            TOKEN_NETWORK_REGISTRY,
            "TokenNetworkCreated",
            "f11a7558a113d9627989c5edf26cbd19143b7375248e621c8e30ac9e0847dc3f",
        ),
        (TOKEN_NETWORK, "ChannelOpened", "669a4b0ac0b9994c0f82ed4dbe07bb421fe74e5951725af4f139c7443ebf049d"),
        (TOKEN_NETWORK, "ChannelNewDeposit", "2b55547a3b586ab51f65ee9ce4927fa6d25191388299988e89e059a02f9dd445"),
        (TOKEN_NETWORK, "ChannelWithdraw", "98ed0357b86b313fa9f968de5c9d2bcf591432355b34aa1ab7e3e9e92f428408"),
        (TOKEN_NETWORK, "ChannelClosed", "09d2f946e008c38931cd739dd20e35146deff8ab3134caee6d54fe50816a81b8"),
        (
            TOKEN_NETWORK,
            "NonClosingBalanceProofUpdated",
            "6fc5b4f4f9e65bfdc4c45456373906876cee8832b605478e281902468875eaed",
        ),
        (TOKEN_NETWORK, "ChannelSettled", "5e973099ee6bae497f110b6b50e988c2a10decca1eb93982a42af12f297fc91c"),
        (TOKEN_NETWORK, "ChannelUnlocked", "8c03cf01b3d4e6068cc494e6fe02aa9e3d4af069d37c32ecc3b241af5c37e6c0"),
        (TOKEN_NETWORK, "DeprecationSwitch", "6151930a846a85f5e64d2dd1cc5deeafb010c63eec4b600458158edd0e33f15d"),
        (SECRET_REGISTRY, "SecretRevealed", "c8ee7ba45d0c5351df845eda156d523bd6865844a5f2c69df35b757e2f794fa1"),
    ],
)
def test_event_topics(name, event, topic0):
    assert contract(name).events_by_name[event].topic0.hex() == topic0


def test_constructor_inputs():
    assert contract(TOKEN_NETWORK_REGISTRY).constructor_inputs == ("address", "uint256", "uint256", "uint256")
    assert contract(SECRET_REGISTRY).constructor_inputs == ()


# --- call data of the proxies (no chain needed: *_data only encodes) ----------------------------------

TN_ADDRESS = "0xB8dD0c817c07e3a7c95d3D6eBE94D6bF5E91D12D"
A = "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
B = "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c"
SIG1, SIG2 = b"\x01" * 65, b"\x02" * 65


def _decoded(function, data: bytes) -> tuple:
    assert data[:4] == function.selector
    return tuple(abi_decode(list(function.inputs), data[4:]))


def test_set_total_withdraw_data():
    data = TokenNetworkProxy(None, TN_ADDRESS).set_total_withdraw_data(1, A, 10, 150, SIG1, SIG2)
    assert data[:4].hex() == "9e67ca5f"
    assert _decoded(contract(TOKEN_NETWORK).fn("setTotalWithdraw"), data) == (1, A.lower(), 10, 150, SIG1, SIG2)


def test_update_non_closing_balance_proof_data():
    data = TokenNetworkProxy(None, TN_ADDRESS).update_non_closing_balance_proof_data(
        1, A, B, b"\x03" * 32, 2, b"\x04" * 32, SIG1, SIG2
    )
    assert data[:4].hex() == "fadc554b"
    assert _decoded(contract(TOKEN_NETWORK).fn("updateNonClosingBalanceProof"), data) == (
        1,
        A.lower(),
        B.lower(),
        b"\x03" * 32,
        2,
        b"\x04" * 32,
        SIG1,
        SIG2,
    )


def test_unlock_data():
    locks = b"\x05" * 192
    data = TokenNetworkProxy(None, TN_ADDRESS).unlock_data(1, A, B, locks)
    assert data[:4].hex() == "03d9d253"
    assert _decoded(contract(TOKEN_NETWORK).fn("unlock"), data) == (1, A.lower(), B.lower(), locks)


def test_cooperative_settle_data():
    data1 = WithdrawInput(A, 30, 2000, SIG1, SIG2)
    data2 = WithdrawInput(B, 70, 2000, SIG2, SIG1)
    data = TokenNetworkProxy(None, TN_ADDRESS).cooperative_settle_data(2, data1, data2)
    assert data[:4].hex() == "7313b25a"
    assert _decoded(contract(TOKEN_NETWORK).fn("cooperativeSettle"), data) == (
        2,
        (A.lower(), 30, 2000, SIG1, SIG2),
        (B.lower(), 70, 2000, SIG2, SIG1),
    )


def test_register_secret_batch_data():
    secrets = [b"\x11" * 32, b"\x33" * 32]
    data = SecretRegistryProxy(None, TN_ADDRESS).register_secret_batch_data(secrets)
    assert data[:4].hex() == "bbe8a9b6"
    assert _decoded(contract(SECRET_REGISTRY).fn("registerSecretBatch"), data) == (tuple(secrets),)


def test_claim_data():
    data = OneToNProxy(None, TN_ADDRESS).claim_data(A, B, 7, 632, SIG1)
    assert _decoded(contract(ONE_TO_N).fn("claim"), data) == (A.lower(), B.lower(), 7, 632, SIG1)
