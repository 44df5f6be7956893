"""The Django admin: every model is there, money is read-only, keys are never shown."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model

from channels_app.models import ChainOperation, Channel, NetworkChannel
from raidennode.nodes.keys import private_key_decrypt
from raidennode.nodes.models import Node

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator_client(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.org", "pw")
    client.force_login(user)
    return client


def test_every_model_is_registered():
    for app_label in ("nodes", "channels_app", "transfers_app"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"


def test_pages_render_and_never_show_keys(chain_env, make_node, api_for, operator_client):
    alice, bob = make_node(), make_node()
    response = api_for(alice).put(
        "/channels", {"token_address": chain_env.token, "partner_address": bob.address, "total_deposit": "10"}
    )
    assert response.status_code == 201, response.json_body
    secrets = [private_key_decrypt(n.encrypted_key).hex() for n in (alice, bob)]
    encrypted = [n.encrypted_key for n in (alice, bob)]
    pages = ["/admin/"]
    for model in (Node, Channel, NetworkChannel, ChainOperation):
        meta = model._meta
        pages.append(f"/admin/{meta.app_label}/{meta.model_name}/")
        pages.append(f"/admin/{meta.app_label}/{meta.model_name}/{model.objects.first().pk}/change/")
    for app_label in ("channels_app",):
        for model in apps.get_app_config(app_label).get_models():
            pages.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    for page in pages:
        html = operator_client.get(page).content.decode()
        assert operator_client.get(page).status_code == 200, page
        for secret in secrets + encrypted:
            assert secret not in html, f"{page} shows a key"


def test_money_and_chain_state_are_read_only(chain_env, make_node, operator_client):
    for model in (NetworkChannel, Channel, ChainOperation):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_change_permission(None)
        assert not model_admin.has_add_permission(None)
        assert not model_admin.has_delete_permission(None)


def test_admin_creates_a_node_with_an_encrypted_key(chain_env, operator_client):
    response = operator_client.post(
        "/admin/nodes/node/add/",
        {
            "name": "from the admin",
            "owner": "",
            "mediation_fee_flat": "0",
            "mediation_fee_proportional": "0",
            "mediation_fee_imbalance": "0",
            "requests_per_minute": "",
            # the payment limits inline, empty
            "payment_limits-TOTAL_FORMS": "0",
            "payment_limits-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:500]
    node = Node.objects.get(name="from the admin")
    key = private_key_decrypt(node.encrypted_key)
    assert len(key) == 32 and key.hex() not in node.encrypted_key


def test_admin_stops_and_starts_nodes(chain_env, make_node, operator_client, api_for):
    node = make_node()
    changelist = "/admin/nodes/node/"
    operator_client.post(changelist, {"action": "stop_nodes", "_selected_action": [node.pk]})
    assert api_for(node).get("/address").status_code == 503
    operator_client.post(changelist, {"action": "start_nodes", "_selected_action": [node.pk]})
    assert api_for(node).get("/address").json_body == {"our_address": node.address}
