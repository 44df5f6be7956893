"""POST /web3: a read-only Ethereum JSON-RPC proxy for the WebUI (spec raiden_clients.md 1.5).

The WebUI reads token metadata and balances, the node's ETH balance, the UDC and the chain id
through web3.js (``config.web3``). The browser cannot reach the deployment's Ethereum node, and
must not be able to use it for anything else, so only the read-only methods web3.js sends for
the WebUI's calls are forwarded to ``settings.ETH_RPC_URL``:

* ``net_version`` (start-up, ``eth.net.getId``), ``eth_chainId``;
* ``eth_getBalance`` (the header's ETH balance), ``eth_call`` (ERC20 and UDC reads, batched),
  ``eth_blockNumber`` (UDC withdraw countdown);
* ``eth_getBlockByNumber`` and ``eth_getCode`` (web3's ENS network check and registry lookup).

Every other method (``eth_sendRawTransaction``, ``eth_sendTransaction``, ``eth_sign``,
``personal_*``, ``anvil_*``, ``debug_*``, filters and subscriptions, ...) is answered with a
JSON-RPC error (-32601) and never reaches the Ethereum node. Single and batched requests are
supported; a batch is forwarded as one batch of its allowed calls, with ids of the proxy's own,
and the answers are put back in the order and with the ids of the request.

With RAIDEN_AUTH on, only a logged-in user (the WebUI's session) may use it.
"""

from __future__ import annotations

import json
import logging
import threading

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

ALLOWED_METHODS = frozenset(
    {
        "net_version",
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_call",
        "eth_getBlockByNumber",
        "eth_getCode",
    }
)
# A WebUI batch is 4 eth_calls per token plus the UDC reads; far below these.
MAX_BODY_BYTES = 256 * 1024
MAX_BATCH = 500
# (connect, read) seconds for the Ethereum node.
UPSTREAM_TIMEOUT = (3.0, 15.0)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
LOGIN_REQUIRED = -32001

_local = threading.local()


class UpstreamError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _error(request_id, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _response(payload, status: int = 200) -> HttpResponse:
    if payload is None:  # only notifications: JSON-RPC answers nothing at all
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(json.dumps(payload), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _session() -> requests.Session:
    # requests sessions are not thread-safe: one per thread (gunicorn's gthread workers).
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _forward(payload):
    """Sends ``payload`` to the Ethereum node; its parsed JSON answer, or UpstreamError.

    Messages never include ETH_RPC_URL (it may hold a provider's key).
    """
    try:
        answer = _session().post(
            settings.ETH_RPC_URL,
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
            timeout=UPSTREAM_TIMEOUT,
        )
    except requests.Timeout:
        logger.warning("web3 proxy: the Ethereum node did not answer in time")
        raise UpstreamError("The Ethereum node did not answer in time.", 504) from None
    except requests.RequestException as exc:
        logger.warning("web3 proxy: the Ethereum node is not reachable (%s)", exc.__class__.__name__)
        raise UpstreamError("The Ethereum node is not reachable.", 502) from None
    try:
        return answer.json()
    except ValueError:
        logger.warning("web3 proxy: the Ethereum node answered HTTP %s without JSON", answer.status_code)
        raise UpstreamError(f"The Ethereum node gave an invalid answer (HTTP {answer.status_code}).", 502) from None


def _check(call) -> tuple[object, dict | None]:
    """(id, error) of one request object; error None when it may be forwarded."""
    if not isinstance(call, dict):
        return None, _error(None, INVALID_REQUEST, "Invalid Request: a JSON-RPC request must be an object.")
    request_id = call.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, (str, int, float))):
        return None, _error(None, INVALID_REQUEST, "Invalid Request: id must be a string, a number or null.")
    method = call.get("method")
    if not isinstance(method, str):
        return request_id, _error(request_id, INVALID_REQUEST, "Invalid Request: method must be a string.")
    if "params" in call and not isinstance(call["params"], (list, dict)):
        return request_id, _error(request_id, INVALID_REQUEST, "Invalid Request: params must be an array or object.")
    if method not in ALLOWED_METHODS:
        return request_id, _error(
            request_id,
            METHOD_NOT_FOUND,
            f"Method {method[:64]!r} is not available through this read-only proxy; "
            f"allowed: {', '.join(sorted(ALLOWED_METHODS))}.",
        )
    return request_id, None


def _upstream_call(call: dict, internal_id: int) -> dict:
    return {"jsonrpc": "2.0", "id": internal_id, "method": call["method"], "params": call.get("params", [])}


def _answer_one(call) -> tuple[dict | None, int]:
    request_id, error = _check(call)
    is_notification = isinstance(call, dict) and "id" not in call
    if error is not None:
        return (None if is_notification and error["error"]["code"] == METHOD_NOT_FOUND else error), 200
    try:
        answer = _forward(_upstream_call(call, 0))
    except UpstreamError as exc:
        return _error(request_id, INTERNAL_ERROR, exc.message), exc.status
    if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
        return _error(request_id, INTERNAL_ERROR, "The Ethereum node gave an invalid answer."), 502
    if is_notification:
        return None, 200
    return {**answer, "id": request_id, "jsonrpc": "2.0"}, 200


def _answer_batch(calls: list) -> tuple[list | dict | None, int]:
    if not calls:
        return _error(None, INVALID_REQUEST, "Invalid Request: empty batch."), 200
    if len(calls) > MAX_BATCH:
        return _error(None, INVALID_REQUEST, f"Invalid Request: at most {MAX_BATCH} calls in a batch."), 200
    answers: list[dict | None] = [None] * len(calls)
    forwarded: list[tuple[int, object, bool]] = []  # (position, client id, notification)
    upstream: list[dict] = []
    for position, call in enumerate(calls):
        request_id, error = _check(call)
        is_notification = isinstance(call, dict) and "id" not in call
        if error is not None:
            if not (is_notification and error["error"]["code"] == METHOD_NOT_FOUND):
                answers[position] = error
            continue
        forwarded.append((position, request_id, is_notification))
        upstream.append(_upstream_call(call, len(upstream)))
    status = 200
    if upstream:
        try:
            replies = _forward(upstream)
            by_id = (
                {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
                if isinstance(replies, list)
                else {}
            )
            failure = None
            if not isinstance(replies, list):
                # e.g. a provider that refuses batches answers one error object
                message = replies.get("error", {}).get("message") if isinstance(replies, dict) else None
                failure = f"The Ethereum node refused the batch: {message}" if message else "Invalid answer."
        except UpstreamError as exc:
            by_id, failure, status = {}, exc.message, exc.status
        for internal_id, (position, request_id, is_notification) in enumerate(forwarded):
            if is_notification:
                continue
            reply = by_id.get(internal_id)
            if reply is None or ("result" not in reply and "error" not in reply):
                answers[position] = _error(
                    request_id, INTERNAL_ERROR, failure or "The Ethereum node did not answer this call."
                )
            else:
                answers[position] = {**reply, "id": request_id, "jsonrpc": "2.0"}
    result = [answer for answer in answers if answer is not None]
    return (result or None), status


def _login_required(request: HttpRequest) -> bool:
    return bool(settings.RAIDEN_AUTH) and not request.user.is_authenticated


@csrf_exempt  # read-only: a forged request changes nothing, and its answer is not readable cross-origin
def web3_proxy(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = _response(_error(None, INVALID_REQUEST, "Use POST with a JSON-RPC request body."), 405)
        response["Allow"] = "POST"
        return response
    if _login_required(request):
        return _response(_error(None, LOGIN_REQUIRED, "Login required: sign in at the WebUI first."), 401)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _response(_error(None, INVALID_REQUEST, f"Request body larger than {MAX_BODY_BYTES} bytes."), 413)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _response(_error(None, INVALID_REQUEST, f"Request body larger than {MAX_BODY_BYTES} bytes."), 413)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _response(_error(None, PARSE_ERROR, "Parse error: the body is not valid JSON."))
    if isinstance(payload, list):
        answer, status = _answer_batch(payload)
    else:
        answer, status = _answer_one(payload)
    return _response(answer, status)
