from django.apps import AppConfig


class TransfersAppConfig(AppConfig):
    name = "transfers_app"
    verbose_name = "Payments"
