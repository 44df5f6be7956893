from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "raidennode.dashboard"
    label = "dashboard"
    verbose_name = "Operator dashboard"

    def ready(self) -> None:
        # After django.contrib.admin and every app registered their models (this app comes last).
        from . import install

        install()
