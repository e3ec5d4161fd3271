"""The Celery application: relay queue tasks and periodic jobs (see agents/mta).

Database connections outlive tasks. Celery's Django fix-up closes every connection after each
task (a new SQLite connection, or a new PostgreSQL session, per task); CELERY_DB_REUSE_MAX in
the settings turns that into a fresh start every so many tasks, and the handlers below apply
Django's own rule after each task instead: a connection that saw an error is checked and
replaced when it no longer works, one past CONN_MAX_AGE is closed, and with CONN_HEALTH_CHECKS
(every DATABASE_URL) the next task's first query checks it first. A SQLite connection is a
local file handle with nothing to age, so in a worker it is kept for good.
"""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")

app = Celery("yubin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["agents.mta", "store"])


@signals.worker_init.connect
@signals.worker_process_init.connect
def _sqlite_connections_persistent(**_kwargs: Any) -> None:
    from django.db import connections

    for alias in connections:
        config = connections.settings[alias]
        if config["ENGINE"].endswith("sqlite3"):
            config["CONN_MAX_AGE"] = None
    for connection in connections.all(initialized_only=True):  # opened before: its close time was set then
        if connection.vendor == "sqlite":
            connection.close_at = None


@signals.task_postrun.connect
def _connections_keep_or_replace(**_kwargs: Any) -> None:
    from django.db import close_old_connections

    close_old_connections()
