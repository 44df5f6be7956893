"""The Raiden WebUI 1.2.1 (PyPI raiden-webui) at /ui/ (spec raiden_clients.md section 1).

* Files of the package's ``ui/`` directory under /ui/, with their content types; hashed bundle
  files are cached for a year, everything else is revalidated.
* Any unknown path under /ui/ whose last segment has no file extension is the Angular app's
  own route (/ui/channels, /ui/transfers, ...): index.html (SPA fallback).
* Any ``/ui/**/config.*.json`` is generated: the API base of the node this browser user is on,
  ``/web3`` (the same-origin read-only JSON-RPC proxy), the default timeouts and the environment.

Which node: with RAIDEN_AUTH off the default node (``/api/v1``), or any hosted node chosen with
``/ui/?node=<address>``; with RAIDEN_AUTH on the logged-in user's node (their only one, or the
one chosen with ``?node=``, which must be theirs). The choice is kept in the session, under the
key the API's session authentication reads too.
"""

from __future__ import annotations

import mimetypes
import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.views import LogoutView, redirect_to_login
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from raidennode.api.auth import SESSION_NODE_KEY
from raidennode.nodes.models import Node
from raidennode.protocol.addresses import to_checksum_address

WEB3_PATH = "/web3"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
}
# Angular's output names: main-es2015.5883dfe059accccfb7e4.js, roboto-v20-latin-300.f1bae4d457b2415e5d7e.ttf
HASHED_NAME = re.compile(r"\.[0-9a-f]{16,}\.[A-Za-z0-9]+$")
YEAR = 365 * 24 * 3600


@cache
def ui_root() -> Path | None:
    """The bundle's directory, or None when raiden-webui is not installed."""
    try:
        import raiden_webui
    except ImportError:
        return None
    root = Path(raiden_webui.__file__).resolve().parent / "ui"
    return root if (root / "index.html").is_file() else None


def _file_of(root: Path, path: str) -> Path | None:
    """The bundle file at ``path`` (relative to /ui/), never anything outside the bundle."""
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") or part.startswith(".") or "\\" in part for part in parts):
        return None
    try:
        candidate = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not candidate.is_file() or root not in candidate.parents:
        return None
    return candidate


def _serve(request: HttpRequest, file: Path) -> HttpResponse:
    stat = file.stat()
    private = "private" if settings.RAIDEN_AUTH else "public"
    if HASHED_NAME.search(file.name):
        cache_control = f"{private}, max-age={YEAR}, immutable"
    else:
        cache_control = f"{private}, no-cache"
        if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(stat.st_mtime)):
            response = HttpResponseNotModified()
            response["Cache-Control"] = cache_control
            return response
    content_type = CONTENT_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0]
    response = FileResponse(file.open("rb"), content_type=content_type or "application/octet-stream")
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Cache-Control"] = cache_control
    return response


def _owned(request: HttpRequest):
    return Node.objects.filter(owner=request.user).order_by("id")


def _chosen_node(request: HttpRequest) -> Node | None:
    """The node remembered in the session, if the user may still use it."""
    address = request.session.get(SESSION_NODE_KEY)
    if not address:
        return None
    nodes = _owned(request) if settings.RAIDEN_AUTH else Node.objects.all()
    return nodes.filter(address=address).first()


def webui_node(request: HttpRequest) -> tuple[Node | None, str | None]:
    """(node, API base) of the browser user; (None, None) when they have no node to use.

    Auth off and no choice: the default node at /api/v1 (node None: it is resolved by the API).
    """
    chosen = _chosen_node(request)
    if chosen is not None:
        return chosen, f"/nodes/{chosen.address}/api/v1"
    if not settings.RAIDEN_AUTH:
        return None, "/api/v1"
    owned = list(_owned(request)[:2])
    if len(owned) == 1:
        return owned[0], f"/nodes/{owned[0].address}/api/v1"
    return None, None


def config_json(request: HttpRequest) -> dict:
    _node, api_base = webui_node(request)
    if api_base is None:  # several nodes and none chosen: the one the API's session default is
        first = _owned(request).first()
        api_base = f"/nodes/{first.address}/api/v1" if first is not None else "/api/v1"
    return {
        "raiden": api_base,
        "web3": WEB3_PATH,
        "settle_timeout": settings.RAIDEN_DEFAULT_SETTLE_TIMEOUT,
        "reveal_timeout": settings.RAIDEN_DEFAULT_REVEAL_TIMEOUT,
        "environment_type": "production" if settings.RAIDEN_ENVIRONMENT == "production" else "development",
    }


def _choose(request: HttpRequest, address: str) -> HttpResponse:
    """``/ui/?node=<address>``: remember the node for this session, then open the UI."""
    nodes = _owned(request) if settings.RAIDEN_AUTH else Node.objects.all()
    try:
        node = nodes.filter(address=to_checksum_address(address.strip())).first()
    except ValueError:  # not an address
        node = None
    if node is None:
        return _nodes_page(request, status=404, unknown=address)
    request.session[SESSION_NODE_KEY] = node.address
    return redirect("/ui/")


def _nodes_page(request: HttpRequest, status: int = 200, unknown: str | None = None) -> HttpResponse:
    nodes = list(_owned(request)) if settings.RAIDEN_AUTH else list(Node.objects.all())
    context = {"nodes": nodes, "unknown": unknown, "auth": settings.RAIDEN_AUTH, "user": request.user}
    return render(request, "webui/nodes.html", context, status=status)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on every page (the login page too): the UI's icon."""
    root = ui_root()
    if root is None:
        return HttpResponse(status=404)
    response = _serve(request, root / "favicon.ico")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_safe
def webui(request: HttpRequest, path: str = "") -> HttpResponse:
    root = ui_root()
    if root is None:
        return HttpResponse(
            "The Raiden WebUI is not installed (pip install raiden-webui==1.2.1).",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    name = path.rsplit("/", 1)[-1]
    is_config = "config." in name and name.endswith(".json")
    if settings.RAIDEN_AUTH and not request.user.is_authenticated:
        if is_config:
            return JsonResponse({"errors": "Login required."}, status=401)
        return redirect_to_login(request.get_full_path())
    if is_config:
        get_token(request)  # the XSRF-TOKEN cookie, which Angular sends back as X-XSRF-TOKEN on writes
        response = JsonResponse(config_json(request))
        response["Cache-Control"] = "no-store"
        return response
    file = _file_of(root, path)
    if file is not None:
        return _serve(request, file)
    if "." in name:  # an asset that is not there
        return HttpResponse("Not found", status=404, content_type="text/plain; charset=utf-8")
    # index.html and the app's own routes
    if request.GET.get("node"):
        return _choose(request, request.GET["node"])
    if webui_node(request)[1] is None:
        return _nodes_page(request, status=403 if not _owned(request).exists() else 200)
    get_token(request)  # as for the config
    return _serve(request, root / "index.html")


class SignOutView(LogoutView):
    """POST signs out (Django's LogoutView); GET shows a page with the button, so that
    /accounts/logout/ can be typed into the address bar (the WebUI itself has no sign-out)."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "webui/logout.html")
