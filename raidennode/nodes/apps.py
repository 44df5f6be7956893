from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "raidennode.nodes"
    label = "nodes"
    verbose_name = "Nodes and keys"

    def ready(self) -> None:
        # The operator dashboard in the admin (after django.contrib.admin registered every model).
        from raidennode.dashboard import install

        install()
