"""The WebUI at /ui/: its files, its generated config, its login, and the read-only /web3 proxy."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from eth_account import Account

from raidennode.api.auth import SESSION_NODE_KEY
from raidennode.nodes.services import node_create
from raidennode.webui import web3_proxy
from raidennode.webui.views import ui_root

pytestmark = pytest.mark.skipif(ui_root() is None, reason="raiden-webui is not installed")

CONFIG = "/ui/assets/config/config.production.json"


def _main_js() -> str:
    return next(p.name for p in ui_root().iterdir() if p.name.startswith("main-es2015."))


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("carol", password="secret-pw")


@pytest.fixture
def auth_on(settings):
    settings.RAIDEN_AUTH = True
    return settings


# --- files ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_index_and_assets_with_their_content_types(client):
    index = client.get("/ui/")
    assert index.status_code == 200
    assert index["Content-Type"] == "text/html; charset=utf-8"
    html = b"".join(index.streaming_content)
    assert b'<base href="/ui/"/>' in html and b"<app-root>" in html
    assert index["Cache-Control"] == "public, no-cache"
    assert "XSRF-TOKEN" in index.cookies  # Angular sends it back as X-XSRF-TOKEN

    main = client.get(f"/ui/{_main_js()}")
    assert main.status_code == 200
    assert main["Content-Type"] == "text/javascript; charset=utf-8"  # required for <script type="module">
    assert main["Cache-Control"] == "public, max-age=31536000, immutable"
    assert int(main["Content-Length"]) > 1_000_000
    assert "XSRF-TOKEN" not in Client().get(f"/ui/{_main_js()}").cookies  # cacheable: no Set-Cookie

    expected = {
        "styles.4a1f82b25240ca92f13b.css": "text/css; charset=utf-8",
        "favicon.ico": "image/x-icon",
        "assets/logo.svg": "image/svg+xml",
        "assets/favicon.png": "image/png",
        "roboto-v20-latin-500.f5b74d7ffcdf85b9dd60.woff2": "font/woff2",
        "roboto-v20-latin-700.2267169ee7270a22a963.woff": "font/woff",
        "3rdpartylicenses.txt": "text/plain; charset=utf-8",
    }
    for name, content_type in expected.items():
        response = client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert response["Content-Type"] == content_type, name
    # not hashed: revalidated, and a conditional GET answers 304
    logo = client.get("/ui/assets/logo.svg")
    assert logo["Cache-Control"] == "public, no-cache"
    assert client.get("/ui/assets/logo.svg", HTTP_IF_MODIFIED_SINCE=logo["Last-Modified"]).status_code == 304


@pytest.mark.django_db
def test_spa_fallback_redirects_and_missing_files(client):
    for route in ("/ui/channels", "/ui/transfers", "/ui/home/deeper/route"):
        response = client.get(route)
        assert response.status_code == 200, route
        assert b'<base href="/ui/"/>' in b"".join(response.streaming_content)
    for missing in ("/ui/missing.js", "/ui/assets/nothing.png", "/ui/..%2F__init__.py", "/ui/../__init__.py"):
        assert client.get(missing).status_code == 404, missing
    assert client.get("/ui/.hidden").status_code == 404
    for path, target in (("/", "/ui/"), ("/index.html", "/ui/"), ("/ui", "/ui/")):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == target, path
    assert client.post("/ui/").status_code == 405


def test_favicon_needs_no_login(client, auth_on):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"


# --- the generated config --------------------------------------------------------------------


@pytest.mark.django_db
def test_config_with_auth_off_is_the_default_node(client, settings):
    settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT = 321
    settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT = 17
    settings.RAIDEN_ENVIRONMENT = "development"
    response = client.get(CONFIG)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "raiden": "/api/v1",
        "web3": "/web3",
        "settle_timeout": 321,
        "reveal_timeout": 17,
        "environment_type": "development",
    }
    # every config.*.json under /ui/ is generated, not the bundled file
    for path in ("/ui/assets/config/config.development.json", "/ui/config.other.json"):
        assert client.get(path).json()["web3"] == "/web3", path
    settings.RAIDEN_ENVIRONMENT = "production"
    assert client.get(CONFIG).json()["environment_type"] == "production"


@pytest.mark.django_db
def test_auth_off_a_node_can_be_chosen(client):
    first, second = node_create(name="first"), node_create(name="second")
    assert client.get(CONFIG).json()["raiden"] == "/api/v1"
    response = client.get(f"/ui/?node={second.address.lower()}")
    assert response.status_code == 302 and response["Location"] == "/ui/"
    assert client.get(CONFIG).json()["raiden"] == f"/nodes/{second.address}/api/v1"
    assert client.get("/ui/?node=0x" + "12" * 20).status_code == 404
    assert client.get(CONFIG).json()["raiden"] == f"/nodes/{second.address}/api/v1"
    client.get(f"/ui/?node={first.address}")
    assert client.get(CONFIG).json()["raiden"] == f"/nodes/{first.address}/api/v1"


def test_auth_on_requires_login(client, auth_on, user):
    node_create(owner=user)
    response = client.get("/ui/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/ui/"
    assert client.get("/ui/channels")["Location"] == "/accounts/login/?next=/ui/channels"
    assert client.get(f"/ui/{_main_js()}").status_code == 302
    config = client.get(CONFIG)
    assert config.status_code == 401 and config.json() == {"errors": "Login required."}

    login_page = client.get("/accounts/login/?next=/ui/")
    assert login_page.status_code == 200 and b'name="password"' in login_page.content
    bad = client.post("/accounts/login/", {"username": "carol", "password": "wrong", "next": "/ui/"})
    assert bad.status_code == 200 and b"did not match" in bad.content
    good = client.post("/accounts/login/", {"username": "carol", "password": "secret-pw", "next": "/ui/"})
    assert good.status_code == 302 and good["Location"] == "/ui/"
    index = client.get("/ui/")
    assert index.status_code == 200 and index["Cache-Control"] == "private, no-cache"

    sign_out = client.get("/accounts/logout/")  # a page with the button (the UI has none)
    assert sign_out.status_code == 200 and b"carol" in sign_out.content
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/ui/").status_code == 302


def test_auth_on_config_is_the_users_node(client, auth_on, user):
    mine = node_create(owner=user)
    other_user = get_user_model().objects.create_user("dave", password="x")
    theirs = node_create(owner=other_user)
    node_create()  # a node of nobody
    client.force_login(user)
    assert client.get(CONFIG).json() == {
        "raiden": f"/nodes/{mine.address}/api/v1",
        "web3": "/web3",
        "settle_timeout": auth_on.RAIDEN_DEFAULT_SETTLE_TIMEOUT,
        "reveal_timeout": auth_on.RAIDEN_DEFAULT_REVEAL_TIMEOUT,
        "environment_type": auth_on.RAIDEN_ENVIRONMENT,
    }
    # another user's node cannot be chosen, and the choice stays
    refused = client.get(f"/ui/?node={theirs.address}")
    assert refused.status_code == 404 and b"No node" in refused.content
    assert client.get(CONFIG).json()["raiden"] == f"/nodes/{mine.address}/api/v1"
    assert client.session.get(SESSION_NODE_KEY) != theirs.address


def test_auth_on_several_nodes_are_chosen_from(client, auth_on, user):
    first, second = node_create(owner=user, name="first"), node_create(owner=user, name="second")
    client.force_login(user)
    chooser = client.get("/ui/")
    assert chooser.status_code == 200
    assert f"/ui/?node={first.address}".encode() in chooser.content
    assert f"/ui/?node={second.address}".encode() in chooser.content
    assert client.get(f"/ui/?node={second.address}")["Location"] == "/ui/"
    assert client.session[SESSION_NODE_KEY] == second.address  # the API's session default too
    index = client.get("/ui/")
    assert index.status_code == 200 and b"<app-root>" in b"".join(index.streaming_content)
    assert client.get(CONFIG).json()["raiden"] == f"/nodes/{second.address}/api/v1"


def test_auth_on_user_without_node_gets_a_clear_page(client, auth_on, user):
    client.force_login(user)
    response = client.get("/ui/")
    assert response.status_code == 403
    assert b"owns no Raiden node" in response.content and b"carol" in response.content


# --- the web3 proxy ------------------------------------------------------------------------


def rpc(client: Client, payload, **extra):
    response = client.post("/web3", data=json.dumps(payload), content_type="application/json", **extra)
    return response, (response.json() if response.content else None)


def call(method: str, params=None, request_id=1) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or []}


def balance_of_call(token: str, owner: str) -> dict:
    data = "0x70a08231" + owner[2:].lower().rjust(64, "0")
    return {"to": token, "data": data}


def test_web3_forwards_the_read_only_calls(client, chain_env, make_node):
    node = make_node(eth=10**18, tokens=777)
    chain_id = chain_env.client.chain_id
    _, answer = rpc(client, call("net_version", request_id="a"))
    assert answer == {"jsonrpc": "2.0", "id": "a", "result": str(chain_id)}
    assert int(rpc(client, call("eth_chainId"))[1]["result"], 16) == chain_id
    assert int(rpc(client, call("eth_blockNumber"))[1]["result"], 16) == chain_env.client.block_number()
    assert int(rpc(client, call("eth_getBalance", [node.address, "latest"]))[1]["result"], 16) == 10**18
    result = rpc(client, call("eth_call", [balance_of_call(chain_env.token, node.address), "latest"]))[1]["result"]
    assert int(result, 16) == 777 == chain_env.token_balance(node.address)
    assert rpc(client, call("eth_getCode", [chain_env.token, "latest"]))[1]["result"].startswith("0x6")
    assert rpc(client, call("eth_getBlockByNumber", ["0x0", False]))[1]["result"]["number"] == "0x0"
    # an error of the Ethereum node comes back as it is
    response, answer = rpc(client, call("eth_getBalance", ["not an address", "latest"], request_id=7))
    assert response.status_code == 200 and answer["id"] == 7 and "error" in answer


def test_web3_batch_keeps_order_and_ids(client, chain_env, make_node):
    node = make_node(eth=5, tokens=3)
    batch = [
        call("eth_call", [balance_of_call(chain_env.token, node.address), "latest"], request_id=10),
        call("eth_sendTransaction", [{"from": node.address}], request_id=11),
        call("eth_getBalance", [node.address, "latest"], request_id=10),  # a duplicate id is kept
        "not an object",
        call("net_version", request_id="x"),
        {"jsonrpc": "2.0", "method": "net_version", "params": []},  # a notification: no answer
        {"jsonrpc": "2.0", "method": "anvil_mine", "params": []},  # a refused notification: no answer
    ]
    response, answers = rpc(client, batch)
    assert response.status_code == 200
    assert [a["id"] for a in answers] == [10, 11, 10, None, "x"]
    assert int(answers[0]["result"], 16) == 3
    assert answers[1]["error"]["code"] == -32601
    assert int(answers[2]["result"], 16) == 5
    assert answers[3]["error"]["code"] == -32600
    assert answers[4]["result"] == str(chain_env.client.chain_id)

    assert rpc(client, [])[1]["error"]["code"] == -32600
    too_many = [call("net_version", request_id=i) for i in range(web3_proxy.MAX_BATCH + 1)]
    assert rpc(client, too_many)[1]["error"]["code"] == -32600
    assert rpc(client, {"jsonrpc": "2.0", "method": "net_version"})[0].status_code == 204


def test_web3_refuses_writes_and_they_do_not_reach_the_chain(client, chain_env):
    sender = Account.create()
    chain_env.set_eth(sender.address, 10**18)
    signed = sender.sign_transaction(
        {
            "to": "0x" + "11" * 20,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 1,
            "nonce": 0,
            "chainId": chain_env.client.chain_id,
        }
    )
    raw = "0x" + bytes(signed.raw_transaction).hex()
    block_before = chain_env.client.block_number()
    response, answer = rpc(client, call("eth_sendRawTransaction", [raw], request_id=3))
    assert response.status_code == 200
    assert answer["id"] == 3 and answer["error"]["code"] == -32601
    assert "eth_sendRawTransaction" in answer["error"]["message"] and "read-only" in answer["error"]["message"]
    # anvil mines every transaction it gets at once: none was sent
    assert chain_env.client.rpc("eth_getTransactionByHash", ["0x" + bytes(signed.hash).hex()]) is None
    assert chain_env.client.rpc("eth_getTransactionCount", [sender.address, "latest"]) == "0x0"
    assert chain_env.client.block_number() == block_before

    unlocked = chain_env.client.rpc("eth_accounts")[0]  # anvil would sign and send for it
    refused = [
        call("eth_sendTransaction", [{"from": unlocked, "to": sender.address, "value": "0x1"}]),
        call("eth_sign", [unlocked, "0x00"]),
        call("personal_unlockAccount", [unlocked, "", 0]),
        call("anvil_setBalance", [sender.address, "0x1"]),
        call("anvil_mine", ["0x5"]),
        call("evm_revert", ["0x1"]),
        call("debug_traceTransaction", ["0x" + "00" * 32]),
        call("eth_newFilter", [{}]),
        call("eth_subscribe", ["newHeads"]),
    ]
    for request in refused:
        assert rpc(client, request)[1]["error"]["code"] == -32601, request["method"]
    assert chain_env.client.rpc("eth_getBalance", [sender.address, "latest"]) == hex(10**18)
    assert chain_env.client.block_number() == block_before


@pytest.mark.django_db
def test_web3_rejects_bad_requests(client, settings):
    settings.ETH_RPC_URL = "http://127.0.0.1:9"  # nothing is forwarded for these
    response = client.post("/web3", data=b"{not json", content_type="application/json")
    assert response.status_code == 200 and response.json()["error"]["code"] == -32700
    response = client.get("/web3")
    assert response.status_code == 405 and response.json()["error"]["code"] == -32600
    big = json.dumps(call("net_version", ["x" * web3_proxy.MAX_BODY_BYTES]))
    response = client.post("/web3", data=big, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]["code"] == -32600
    assert rpc(client, call(42))[1]["error"]["code"] == -32600
    assert rpc(client, {"id": 1, "method": "net_version", "params": "x"})[1]["error"]["code"] == -32600
    assert rpc(client, 5)[1]["error"]["code"] == -32600


@pytest.mark.django_db
def test_web3_upstream_down_or_slow_is_a_json_rpc_error(client, settings, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.ETH_RPC_URL = f"http://user:key@127.0.0.1:{port}/secret-path"
    response, answer = rpc(client, call("net_version", request_id=4))
    assert response.status_code == 502
    assert answer["id"] == 4 and answer["error"]["code"] == -32603
    assert "not reachable" in answer["error"]["message"] and "secret" not in json.dumps(answer)
    response, answers = rpc(client, [call("net_version", request_id=1), call("eth_sign", request_id=2)])
    assert response.status_code == 502
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(1, -32603), (2, -32601)]

    # a node that accepts the connection and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setattr(web3_proxy, "UPSTREAM_TIMEOUT", (1.0, 0.5))
    try:
        settings.ETH_RPC_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        response, answer = rpc(client, call("eth_blockNumber", request_id=9))
        assert response.status_code == 504
        assert answer["error"]["code"] == -32603 and "in time" in answer["error"]["message"]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()


def test_web3_needs_login_with_auth_on(client, chain_env, auth_on, user):
    response, answer = rpc(client, call("net_version"))
    assert response.status_code == 401
    assert answer["error"]["code"] == -32001 and "Login required" in answer["error"]["message"]
    client.force_login(user)
    response, answer = rpc(client, call("net_version"))
    assert response.status_code == 200 and answer["result"] == str(chain_env.client.chain_id)
    # no CSRF token needed: web3.js does not send one, and the proxy changes nothing
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert rpc(csrf_client, call("net_version"))[1]["result"] == str(chain_env.client.chain_id)
