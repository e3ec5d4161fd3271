"""Admin panel URLs."""

from django.urls import path  # noqa: F401

app_name = "admin_panel"
urlpatterns: list = []
