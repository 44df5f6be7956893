from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "raidennode.nodes"
    label = "nodes"
    verbose_name = "Nodes and keys"
