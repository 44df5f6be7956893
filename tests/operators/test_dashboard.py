"""The operator dashboard (/admin/dashboard/): staff only, real numbers, actions through the services.

Channels are opened and payments made through the API on the anvil chain; failures are real
(a node without ETH); retries and closes run in the session's Celery worker and are awaited
like the API awaits them: the operation row, then the ingested chain event.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from channels_app.models import ChainOperation, Channel, NetworkChannel, TokenNetwork
from channels_app.services.ingest import chain_ingest_all
from raidennode.dashboard.selectors import (
    hour_start,
    payments_per_hour,
    value_locked,
    value_locked_in_python,
)
from raidennode.nodes.services import node_start, node_stop
from tests.payments.conftest import deposit, open_channel, pay, post_in_background, wait_until
from transfers_app.models import Message, Payment

pytestmark = pytest.mark.django_db(transaction=True)

DASHBOARD = "/admin/dashboard/"
# Session and user, then 6 queries of the dashboard (8 with its lists longer than 50): none per row.
MAX_QUERIES = 10


@pytest.fixture
def operator():
    return get_user_model().objects.create_superuser("operator", "op@example.org", "pw")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def csrf_client(user) -> tuple[Client, str]:
    """A client that enforces CSRF like a browser, logged in, with the token of the dashboard form."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    html = client.get(DASHBOARD).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the dashboard has no CSRF-protected form"
    return client, match.group(1)


def post_action(client: Client, token: str, **fields) -> list[tuple[str, str]]:
    """POSTs one dashboard action; the (level, text) messages it left, after the redirect back."""
    response = client.post(DASHBOARD, {"csrfmiddlewaretoken": token, **fields}, follow=True)
    assert response.redirect_chain == [(DASHBOARD, 302)], response.content[:500]
    shown = [(m.level_tag, m.message) for m in response.context["messages"]]
    html = response.content.decode()
    assert all(escape(text) in html for _, text in shown), "the messages are shown on the dashboard"
    return shown


def ingest_until(predicate, what: str) -> None:
    wait_until(lambda: chain_ingest_all() is not None and predicate(), what, seconds=60)


def failed_deposit(chain_env, node, api, token: str, partner, total: int) -> ChainOperation:
    """A deposit that really fails: the node has no ETH for the transactions (402)."""
    chain_env.set_eth(node.address, 0)
    response = api.patch(f"/channels/{token}/{partner.address}", {"total_deposit": str(total)})
    assert response.status_code == 402, response.json_body
    chain_env.set_eth(node.address, 10**20)
    return ChainOperation.objects.get(kind="channel_deposit", status="failed")


# --- access ---------------------------------------------------------------------------------------


def test_the_dashboard_is_for_staff_only(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")

    user = get_user_model().objects.create_user("customer", "c@example.org", "pw")
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.post(DASHBOARD, {"action": "redeliver"}).status_code == 302
    assert "Operator dashboard" not in client.get(DASHBOARD, follow=True).content.decode()

    # Staff without permissions see the page but no action, and an action posted anyway is refused.
    user.is_staff = True
    user.save()
    html = client.get(DASHBOARD).content.decode()
    assert "Operator dashboard" in html and 'value="retry"' not in html and 'value="close"' not in html
    response = client.post(DASHBOARD, {"action": "close", "channel": "1"}, follow=True)
    assert [(m.level_tag, m.message) for m in response.context["messages"]] == [
        ("error", "You need the channels_app.change_channel permission for this action.")
    ]


def test_actions_need_the_csrf_token(operator):
    client, token = csrf_client(operator)
    assert client.post(DASHBOARD, {"action": "redeliver"}).status_code == 403
    assert post_action(client, token, action="redeliver") == [
        ("info", "Nothing to redeliver: no pending message was selected.")
    ]
    assert post_action(client, token, action="retry", operation="x") == [
        ("error", "Which operation? The form sent no operation id.")
    ]
    assert post_action(client, token, action="retry", operation="999") == [
        ("error", "There is no chain operation #999.")
    ]
    assert post_action(client, token, action="close", channel="999") == [("error", "There is no channel #999.")]
    assert post_action(client, token, action="explode") == [("error", "Unknown action 'explode'.")]


def test_the_admin_links_the_dashboard_and_lists_have_the_actions(operator_client):
    response = operator_client.get("/admin/")
    index = response.content.decode()
    assert f'href="{DASHBOARD}"' in index and "Operator dashboard" in index
    assert "Chain operations" in index, "the app list is still there"
    for model, action in (
        (ChainOperation, "retry_operations"),
        (Channel, "close_channels"),
        (Message, "redeliver_messages"),
    ):
        # (a changelist shows its actions only when it lists rows)
        assert action in admin.site.get_model_admin(model).get_actions(response.wsgi_request), model
    # Installing twice (a second ready()) adds nothing twice.
    from raidennode.dashboard import install

    install()
    actions = admin.site.get_model_admin(ChainOperation).actions
    assert [action.__name__ for action in actions].count("retry_operations") == 1


# --- what it shows --------------------------------------------------------------------------------


def test_the_dashboard_shows_real_numbers_in_a_bounded_number_of_queries(
    chain_env, make_node, api_for, operator_client, django_assert_max_num_queries
):
    token = chain_env.token
    empty = operator_client.get(DASHBOARD)
    assert empty.status_code == 200
    assert empty.context["data"].locked == [] and empty.context["data"].operations == []

    alice, bob, carol = make_node(name="alice"), make_node(name="bob"), make_node(name="carol")
    a, b = api_for(alice), api_for(bob)
    open_channel(a, token, bob, 100)
    deposit(b, token, alice, 50)
    for amount in (3, 4, 5):
        assert pay(a, token, bob, amount).status_code == 200
    failed = failed_deposit(chain_env, alice, a, token, bob, 150)
    node_stop(carol)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = operator_client.get(DASHBOARD)
    assert response.status_code == 200
    data = response.context["data"]
    html = response.content.decode()

    assert data.nodes == {"running": 2, "stopped": 1, "total": 3}
    assert '<tr class="node-state-stopped"><th scope="row">stopped</th><td class="number">1</td></tr>' in html
    assert data.channels["opened"] == 2 and sum(data.channels.values()) == 2  # alice's and bob's side
    assert '<tr class="channel-state-opened"><th scope="row">opened</th><td class="number">2</td></tr>' in html

    [locked] = data.locked
    assert (locked.token_address, locked.channels, locked.deposited, locked.withdrawn, locked.locked) == (
        token,
        2,
        150,
        0,
        150,
    )
    assert value_locked() == value_locked_in_python(), "PostgreSQL's sum and the SQLite path agree"
    assert re.search(rf'data-token="{token}">.*?<td class="number locked-amount">150</td>', html, re.S)

    # Three payments initiated by alice this hour (bob's target rows are not counted again).
    now_bar = data.hours[-1]
    assert now_bar.start == hour_start(timezone.now())
    assert (now_bar.succeeded, now_bar.failed, now_bar.pending) == (3, 0, 0)
    assert sum(bucket.total for bucket in data.hours) == 3
    chart = html[html.index('id="payments-per-hour"') : html.index('id="failing-operations"')]
    assert "<svg" in chart and "<script" not in chart and "http" not in chart.replace("http://www.w3.org/2000/svg", "")
    assert f'data-hour="{now_bar.start.isoformat()}" data-succeeded="3" data-failed="0"' in html
    assert html.count('class="bar succeeded"') == 1

    assert [op.pk for op in data.operations] == [failed.pk]
    row = re.search(rf'<tr class="operation" data-operation="{failed.pk}">.*?</tr>', html, re.S).group(0)
    assert "channel_deposit" in row and "insufficient_eth" in row and 'value="retry"' in row
    assert data.messages == []


def test_payments_per_hour_counts_initiated_payments_by_hour_and_status(chain_env, make_node):
    alice, bob = make_node(), make_node()
    token_network = TokenNetwork.objects.get()
    now = timezone.now()

    def payment(node, role: str, status: str, age: timedelta) -> None:
        row = Payment.objects.create(
            node=node,
            role=role,
            token_network=token_network,
            payment_identifier=Payment.objects.count() + 1,
            initiator=alice.address,
            target=bob.address,
            amount=1,
            secrethash="0x" + f"{Payment.objects.count():064x}",
            expiration=100,
            status=status,
        )
        Payment.objects.filter(pk=row.pk).update(created_at=now - age)

    payment(alice, "initiator", "succeeded", timedelta(0))
    payment(alice, "initiator", "succeeded", timedelta(0))
    payment(alice, "initiator", "failed", timedelta(0))
    payment(alice, "initiator", "pending", timedelta(0))
    payment(bob, "target", "succeeded", timedelta(0))  # the same payments seen by their target
    payment(alice, "initiator", "failed", timedelta(hours=3))
    payment(alice, "initiator", "succeeded", timedelta(hours=30))  # older than the chart

    hours = payments_per_hour(now)
    assert len(hours) == 24 and hours[-1].start == hour_start(now)
    assert [hours[-1].start - hours[i].start for i in (0, 22)] == [timedelta(hours=23), timedelta(hours=1)]
    assert (hours[-1].succeeded, hours[-1].failed, hours[-1].pending) == (2, 1, 1)
    assert (hours[-4].succeeded, hours[-4].failed) == (0, 1)
    assert sum(bucket.total for bucket in hours) == 5


# --- actions --------------------------------------------------------------------------------------


def test_retry_runs_a_failed_operation_again(chain_env, make_node, api_for, operator):
    token = chain_env.token
    alice, bob = make_node(), make_node()
    a = api_for(alice)
    open_channel(a, token, bob, 100)
    failed = failed_deposit(chain_env, alice, a, token, bob, 150)
    assert failed.error_code == "insufficient_eth"

    client, csrf = csrf_client(operator)
    [(level, text)] = post_action(client, csrf, action="retry", operation=str(failed.pk))
    assert level == "success" and text.startswith(f"Retry of operation #{failed.pk} (channel_deposit) requested")
    retry = ChainOperation.objects.exclude(pk=failed.pk).get(kind="channel_deposit")
    assert (retry.args, retry.dedupe_key, retry.channel_id) == (failed.args, failed.dedupe_key, failed.channel_id)

    wait_until(lambda: ChainOperation.objects.get(pk=retry.pk).status == "succeeded", "the retried deposit", 60)
    channel = Channel.objects.get(node=alice)
    ingest_until(lambda: Channel.objects.get(pk=channel.pk).our_deposit == 150, "the deposit on chain")
    assert a.get(f"/channels/{token}/{bob.address}").json_body["total_deposit"] == "150"

    failed.refresh_from_db()
    assert failed.status == "failed" and failed.result == {"retried_by": retry.pk}
    response = client.get(DASHBOARD)
    assert response.context["data"].operations == [], "a retried failure is no longer failing"
    # A second retry of the same failure is refused with a message, not a 500.
    assert post_action(client, csrf, action="retry", operation=str(failed.pk)) == [
        ("error", f"Operation #{failed.pk} was retried already, as operation #{retry.pk}.")
    ]
    assert post_action(client, csrf, action="retry", operation=str(retry.pk)) == [
        ("error", f"Operation #{retry.pk} is succeeded: only a failed operation can be retried.")
    ]


def test_close_closes_a_channel_on_chain_without_waiting(chain_env, make_node, api_for, operator):
    token = chain_env.token
    alice, bob = make_node(), make_node()
    open_channel(api_for(alice), token, bob, 100)
    channel = Channel.objects.get(node=alice)

    client, csrf = csrf_client(operator)
    [(level, text)] = post_action(client, csrf, action="close", channel=str(channel.pk))
    assert level == "success" and "requested" in text, text
    op = ChainOperation.objects.get(kind="channel_close")
    assert op.node_id == alice.pk and op.channel_id == channel.pk
    assert Channel.objects.get(pk=channel.pk).state in ("waiting_for_close", "closed")

    wait_until(lambda: ChainOperation.objects.get(pk=op.pk).status == "succeeded", "the close transaction", 60)
    ingest_until(lambda: Channel.objects.get(pk=channel.pk).state == "closed", "ChannelClosed")
    assert NetworkChannel.objects.get(pk=channel.network_channel_id).state == "closed"
    assert api_for(bob).get(f"/channels/{token}/{alice.address}").json_body["state"] == "closed"
    assert client.get(DASHBOARD).context["data"].channels["closed"] == 2

    # Closing again is an error message, not a 500, and nothing is queued.
    [(level, text)] = post_action(client, csrf, action="close", channel=str(channel.pk))
    assert level == "error" and "is closed: only an open channel can be closed" in text
    assert ChainOperation.objects.filter(kind="channel_close").count() == 1


def test_a_failed_close_is_retried_from_the_operations_list(chain_env, make_node, api_for, operator_client):
    token = chain_env.token
    alice, bob = make_node(), make_node()
    a = api_for(alice)
    open_channel(a, token, bob, 100)
    chain_env.set_eth(alice.address, 0)
    assert a.patch(f"/channels/{token}/{bob.address}", {"state": "closed"}).status_code == 402
    failed = ChainOperation.objects.get(kind="channel_close", status="failed")
    assert a.get(f"/channels/{token}/{bob.address}").json_body["state"] == "opened"
    chain_env.set_eth(alice.address, 10**20)

    response = operator_client.post(
        "/admin/channels_app/chainoperation/",
        {"action": "retry_operations", "_selected_action": [failed.pk]},
    )
    assert response.status_code == 302
    # The retry marks the channel as closing again, as the API's close does.
    assert a.get(f"/channels/{token}/{bob.address}").json_body["state"] in ("waiting_for_close", "closed")
    retry = ChainOperation.objects.get(kind="channel_close", pk__gt=failed.pk)
    wait_until(lambda: ChainOperation.objects.get(pk=retry.pk).status == "succeeded", "the retried close", 60)
    ingest_until(lambda: a.get(f"/channels/{token}/{bob.address}").json_body["state"] == "closed", "ChannelClosed")


def test_redeliver_delivers_undelivered_messages_now(chain_env, make_node, api_for, operator):
    token = chain_env.token
    alice, bob = make_node(), make_node()
    a = api_for(alice)
    open_channel(a, token, bob, 100)
    node_stop(bob)
    results: list = []
    thread = post_in_background(a, f"/payments/{token}/{bob.address}", {"amount": "7"}, results)
    wait_until(lambda: Message.objects.filter(kind="LockedTransfer", attempts__gte=1).exists(), "a refused delivery")
    transfer = Message.objects.get(kind="LockedTransfer")

    client, csrf = csrf_client(operator)
    data = client.get(DASHBOARD).context["data"]
    assert [m.pk for m in data.messages] == [transfer.pk] and data.messages_total == 1
    # Still stopped: the redelivery is refused again and says so.
    [(level, text)] = post_action(client, csrf, action="redeliver")
    assert level == "warning" and "1 still pending" in text, text

    node_start(bob)
    [(level, text)] = post_action(client, csrf, action="redeliver")
    assert level == "success" and "1 of the selected delivered" in text, text
    thread.join(timeout=30)
    assert results and results[0][0] == 200, results
    assert Message.objects.get(pk=transfer.pk).status == "processed"
    assert client.get(DASHBOARD).context["data"].messages == []
