"""GET /notifications: the gas-reserve check's notification, returned once and then cleared."""

from __future__ import annotations

import pytest

from channels_app.services.duties import gas_reserves_check

pytestmark = pytest.mark.django_db(transaction=True)


def test_missing_gas_reserve_is_notified_once(pair, chain_env):
    alice, bob, a, b = pair
    assert a.get("/notifications").json_body == []
    assert gas_reserves_check() == 0  # both nodes hold plenty of ETH

    chain_env.set_eth(alice.address, 1000)
    assert gas_reserves_check() == 1
    assert gas_reserves_check() == 1  # the same id replaces the earlier notification
    notes = a.get("/notifications").json_body
    assert len(notes) == 1
    assert notes[0]["id"] == "missing_gas_reserve" and notes[0]["urgency"] == "critical"
    assert set(notes[0]) == {"id", "summary", "body", "urgency"}
    assert "1000 wei" in notes[0]["body"]
    assert a.get("/notifications").json_body == []  # reading cleared them
    assert b.get("/notifications").json_body == []  # another node's are its own
