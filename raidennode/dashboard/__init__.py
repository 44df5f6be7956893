"""The operator dashboard of the Django admin (docs/operations.md, "Operator dashboard").

``install()`` (called from ``raidennode.dashboard.apps.DashboardConfig.ready``, after the admin
has registered every model) wires it into the default admin site:

* /admin/dashboard/: ``admin.site.get_urls`` is wrapped so that the dashboard's URL (name
  ``admin:raidennode_dashboard``) comes before the admin's own; the view is wrapped in
  ``admin.site.admin_view`` (staff only, CSRF-protected, never cached).
* the admin index links to it: ``admin.site.index_template`` is set to a template that extends
  ``admin/index.html`` and adds the link above the app list (a template named
  ``admin/index.html`` could not extend the original of the same name).
* the actions also appear in the Chain operations, Channels and Messages lists ("Retry",
  "Close", "Redeliver"), added to their ModelAdmins' ``actions``.

The data: ``selectors``; the actions and the services they call: ``actions``.
"""

from __future__ import annotations

INDEX_TEMPLATE = "admin/raidennode_index.html"


def install() -> None:
    """Adds the dashboard to ``django.contrib.admin.site`` (idempotent)."""
    from django.contrib import admin
    from django.urls import path

    from channels_app.models import ChainOperation, Channel
    from transfers_app.models import Message

    from . import actions

    site = admin.site
    if getattr(site, "raidennode_dashboard_installed", False):
        return
    site.raidennode_dashboard_installed = True
    admin_urls = site.get_urls

    def get_urls():
        from .views import dashboard_view

        return [path("dashboard/", site.admin_view(dashboard_view), name="raidennode_dashboard"), *admin_urls()]

    site.get_urls = get_urls
    site.index_template = INDEX_TEMPLATE
    for model, action in (
        (ChainOperation, actions.retry_operations),
        (Channel, actions.close_channels),
        (Message, actions.redeliver_messages),
    ):
        if site.is_registered(model):
            model_admin = site.get_model_admin(model)
            model_admin.actions = (*(model_admin.actions or ()), action)
