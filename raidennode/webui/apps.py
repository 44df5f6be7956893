from django.apps import AppConfig


class WebuiConfig(AppConfig):
    name = "raidennode.webui"
    label = "webui"
    verbose_name = "Raiden WebUI"
