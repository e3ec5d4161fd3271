"""Webmail URLs."""

from django.urls import path  # noqa: F401

app_name = "webmail"
urlpatterns: list = []
