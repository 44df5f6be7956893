"""The Raiden node: Django project package and the framework-free core (protocol, chain, transport)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
