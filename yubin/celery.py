"""The Celery application: relay queue tasks and periodic jobs (see agents/mta).

Database connections outlive tasks. Celery's Django fix-up closes every connection after each
task (a new SQLite connection, or a new PostgreSQL session, per task); CELERY_DB_REUSE_MAX in
the settings turns that into a fresh start every so many tasks, and the handlers below apply
Django's own rule after each task instead: a connection that saw an error is checked and
replaced when it no longer works, one past CONN_MAX_AGE is closed, and with CONN_HEALTH_CHECKS
(every DATABASE_URL) the next task's first query checks it first. A SQLite connection is a
local file handle with nothing to age, so in a worker it is kept for good.

The embedded broker is kombu's filesystem transport with one change (FilesystemTransport): a
message file is written under a temporary name and renamed into place. kombu's own writer
creates the file, then writes it; a consumer listing the folder in between took the empty file,
failed on it and stopped consuming, and the message was gone until the sweep.
"""

import os
import time
import uuid
from typing import Any

from celery import Celery, signals
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class FilesystemChannel(filesystem.Channel):
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]  # as kombu's own
        """Put a message onto `queue`: written whole under a name consumers skip, then renamed."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f"_{name}.part")  # not "<queue>.msg": never consumed
        try:
            with open(partial, "wb", buffering=0) as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel

    @property
    def default_connection_params(self) -> dict[str, Any]:
        # A directory has no host: kombu's default ("localhost") made every connection of the
        # embedded broker log "No hostname was supplied" as a warning.
        return {}


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
