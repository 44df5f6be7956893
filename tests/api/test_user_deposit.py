"""POST /user_deposit: deposit to, plan a withdraw from and withdraw from the UserDeposit contract
(spec 3.10, 4.19). The UDC holds the deployment's service token, a CustomToken anyone may mint."""

from __future__ import annotations

import json

import pytest

from channels_app.models import Deployment
from raidennode.chain.deploy import mint_tokens
from raidennode.chain.proxies import TokenProxy, UserDepositProxy
from tests.api.support import assert_error, assert_field_errors, assert_ok, assert_payload_expected, assert_tx_hash

pytestmark = pytest.mark.django_db(transaction=True)

NOTHING_TO_DO = (
    "Nothing to do. Should either provide 'total_deposit', 'planned_withdraw_amount' or 'withdraw_amount' argument"
)


@pytest.fixture
def udc(chain_env) -> UserDepositProxy:
    return UserDepositProxy(chain_env.client, chain_env.raiden.user_deposit)


@pytest.fixture
def service_tokens(chain_env, alice) -> TokenProxy:
    """1000 service tokens for alice."""
    mint_tokens(chain_env.deployer, chain_env.raiden.service_token, alice.address, 1000)
    return TokenProxy(chain_env.client, chain_env.raiden.service_token)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"total_deposit": 1, "planned_withdraw_amount": 1},
            "Cannot deposit to UDC and plan a withdraw at the same time",
        ),
        ({"total_deposit": "1", "withdraw_amount": "1"}, "Cannot deposit to UDC and withdraw at the same time"),
        (
            {"withdraw_amount": 1, "planned_withdraw_amount": 1},
            "Cannot withdraw from UDC and plan a withdraw at the same time",
        ),
        (
            {"total_deposit": 1, "planned_withdraw_amount": 1, "withdraw_amount": 1},
            "Cannot deposit to UDC and plan a withdraw at the same time",
        ),
        ({"total_deposit": -1, "withdraw_amount": 0}, "Cannot deposit to UDC and withdraw at the same time"),
        ({"total_deposit": None}, NOTHING_TO_DO),
        ({"total_deposit": None, "planned_withdraw_amount": None, "withdraw_amount": None}, NOTHING_TO_DO),
    ],
)
def test_argument_errors(api, body, message):
    assert_error(api.post("/user_deposit", body), 400, message)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"amount": 1}, {"amount": ["Unknown field."]}),
        ({"total_deposit": "1.5"}, {"total_deposit": ["Not a valid integer."]}),
        ({"planned_withdraw_amount": True}, {"planned_withdraw_amount": ["Not a valid integer."]}),
        ({"withdraw_amount": "all"}, {"withdraw_amount": ["Not a valid integer."]}),
    ],
)
def test_schema_errors(api, body, errors):
    assert_field_errors(api.post("/user_deposit", body), errors)


def test_empty_body(api):
    assert_payload_expected(api.post("/user_deposit", {}))
    assert_payload_expected(api.post("/user_deposit"))


def test_deposit(api, alice, udc, service_tokens):
    # null fields count as absent.
    body = assert_ok(
        api.post("/user_deposit", {"total_deposit": "100", "planned_withdraw_amount": None, "withdraw_amount": None})
    )
    assert set(body) == {"transaction_hash"}
    assert_tx_hash(body["transaction_hash"])
    assert udc.total_deposit(alice.address) == 100
    assert udc.balance(alice.address) == 100
    assert service_tokens.balance_of(alice.address) == 900

    for not_more in ("100", 100, 99, 0, -1):
        assert_error(api.post("/user_deposit", {"total_deposit": not_more}), 409, "Total deposit did not increase.")

    # The total deposit is absolute: 250 adds 150.
    assert_tx_hash(assert_ok(api.post("/user_deposit", {"total_deposit": 250}))["transaction_hash"])
    assert udc.total_deposit(alice.address) == 250
    assert service_tokens.balance_of(alice.address) == 750

    assert_error(api.post("/user_deposit", {"total_deposit": str(2**256)}), 409, "Deposit overflow.")
    assert_error(
        api.post("/user_deposit", {"total_deposit": 1001}),
        402,
        "Not enough balance to deposit. Available=750 Needed=751",
    )
    assert udc.total_deposit(alice.address) == 250


def test_plan_and_withdraw(api, alice, chain_env, udc, service_tokens):
    assert_ok(api.post("/user_deposit", {"total_deposit": 100}))

    # Without a plan nothing may be withdrawn.
    assert_error(api.post("/user_deposit", {"withdraw_amount": 10}), 409, "Withdrawing more than planned.")
    for amount in (0, "-3"):
        assert_error(
            api.post("/user_deposit", {"planned_withdraw_amount": amount}),
            409,
            "Withdraw amount must be greater than zero.",
        )
    assert_error(
        api.post("/user_deposit", {"planned_withdraw_amount": 101}),
        409,
        "The withdraw of 101 is bigger than the current balance of 100.",
    )

    response = api.post("/user_deposit", {"planned_withdraw_amount": "60"})
    body = assert_ok(response)
    assert set(body) == {"transaction_hash", "planned_withdraw_block_number"}
    assert_tx_hash(body["transaction_hash"])
    planned_block = body["planned_withdraw_block_number"]
    # One of the few JSON numbers of the API.
    assert isinstance(planned_block, int) and not isinstance(planned_block, bool)
    assert f'"planned_withdraw_block_number": {planned_block}'.encode() in response.content
    mined_in = chain_env.client.receipt(body["transaction_hash"])["block_number"]
    assert planned_block == mined_in + udc.withdraw_delay()
    assert udc.withdraw_plan(alice.address) == (60, planned_block)

    current = chain_env.client.block_number()
    assert_error(
        api.post("/user_deposit", {"withdraw_amount": 60}),
        409,
        f"Withdrawing too early. Planned withdraw at block {planned_block}. Current block: {current}.",
    )
    assert_error(api.post("/user_deposit", {"withdraw_amount": 61}), 409, "Withdrawing more than planned.")
    assert_error(api.post("/user_deposit", {"withdraw_amount": 0}), 409, "Withdraw amount must be greater than zero.")

    chain_env.mine(planned_block - chain_env.client.block_number())
    body = assert_ok(api.post("/user_deposit", {"withdraw_amount": "60"}))
    assert set(body) == {"transaction_hash"}
    assert_tx_hash(body["transaction_hash"])
    assert udc.balance(alice.address) == 40
    assert service_tokens.balance_of(alice.address) == 960
    assert json.loads(api.get("/contracts").content)["user_deposit_address"] == udc.address


def test_no_user_deposit_contract(api):
    Deployment.objects.update(user_deposit=None)
    assert assert_ok(api.get("/contracts"))["user_deposit_address"] is None
    for body in ({"total_deposit": 1}, {"planned_withdraw_amount": 1}, {"withdraw_amount": 1}):
        assert_error(api.post("/user_deposit", body), 404, "No UserDeposit contract is configured.")
