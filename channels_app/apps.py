from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Tokens, channels and the chain"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from raidennode.nodes.models import Node

        post_save.connect(_node_created, sender=Node, dispatch_uid="channels_app.node_channels_adopt")


def _node_created(sender, instance, created: bool, **kwargs) -> None:
    """A node whose address already has channels on chain (an imported key) gets their rows."""
    if created:
        from .services.ingest import node_channels_adopt

        node_channels_adopt(instance)
