"""/ui/ (the WebUI), /web3 (its JSON-RPC proxy) and the login pages; included at the site root."""

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from . import views, web3_proxy

to_ui = RedirectView.as_view(url="/ui/", query_string=True)

urlpatterns = [
    # The API and the admin share this host, so the root only points at the UI.
    path("", to_ui),
    path("index.html", to_ui),
    path("favicon.ico", views.favicon),
    path("ui", to_ui),
    path("ui/", views.webui, name="webui"),
    path("ui/<path:path>", views.webui),
    path("web3", web3_proxy.web3_proxy, name="web3"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.SignOutView.as_view(), name="logout"),
]
