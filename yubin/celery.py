"""The Celery application: relay queue tasks and periodic jobs (see agents/mta)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")

app = Celery("yubin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["agents.mta", "store"])
