"""Yubin: the Django project (settings, urls, the Celery app, the ASGI entry)."""

from yubin.celery import app as celery_app

__all__ = ["celery_app"]
