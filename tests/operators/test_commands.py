"""Operator commands: createnode, startnode, attachchain."""

import io

import pytest
from django.core.management import CommandError, call_command

from channels_app.models import Deployment
from raidennode.nodes.keys import address_of, private_key_decrypt
from raidennode.nodes.models import Node
from raidennode.protocol.addresses import to_checksum_address

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_createnode_prints_the_address_of_a_new_encrypted_key(chain_env):
    address = run("createnode", "--name", "n1")
    node = Node.objects.get(address=address)
    assert node.name == "n1"
    assert to_checksum_address(address_of(private_key_decrypt(node.encrypted_key))) == address
    with pytest.raises(CommandError):
        run("createnode", "--owner", "nobody")


def test_startnode_serves_a_stopped_node_again(chain_env, make_node, api_for):
    node = make_node()
    assert api_for(node).post("/shutdown").json_body == {"status": "shutdown"}
    assert api_for(node).get("/status").status_code == 503
    assert run("startnode", node.address) == f"{node.address} is running"
    assert api_for(node).get("/status").json_body == {"status": "ready"}
    with pytest.raises(CommandError):
        run("startnode", "0x" + "00" * 20)


def test_attachchain_reads_the_deployment_from_the_chain(chain_env):
    Deployment.objects.all().delete()
    raiden = chain_env.raiden
    out = run(
        "attachchain",
        "--registry",
        raiden.token_network_registry,
        "--user-deposit",
        raiden.user_deposit,
        "--start-block",
        "1",
    )
    assert raiden.token_network_registry in out
    deployment = Deployment.objects.get()
    assert deployment.secret_registry == raiden.secret_registry
    assert deployment.one_to_n == raiden.one_to_n
    assert deployment.monitoring_service == raiden.monitoring_service
    assert deployment.service_registry == raiden.service_registry
    assert (deployment.settlement_timeout_min, deployment.settlement_timeout_max) == (5, 100000)
    with pytest.raises(CommandError):
        run("attachchain", "--registry", raiden.token_network_registry.lower(), "--start-block", "1")
