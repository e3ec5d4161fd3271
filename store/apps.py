"""The shared store: the one writer of mail data (DESIGN rules 3-5)."""

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Mail store"
    default_auto_field = "django.db.models.BigAutoField"
