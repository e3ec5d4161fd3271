"""The embedded Celery broker (kombu's filesystem transport) keeps every file in the data dir."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PUBLISH = """
import django
django.setup()
from yubin.celery import app
app.send_task("yubin.tests.nothing", args=(1,))
"""


def test_publishing_writes_nothing_into_the_working_directory(tmp_path):
    workdir, data = tmp_path / "cwd", tmp_path / "data"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="yubin.settings", YUBIN_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", PUBLISH], cwd=workdir, env=env, check=True, timeout=60)
    assert list(workdir.iterdir()) == []
    assert (data / "broker" / "control" / "celery.exchange").exists()
    assert len(list((data / "broker" / "out").iterdir())) == 1


def test_publishing_logs_no_warning(tmp_path):
    """A directory broker has no host: publishing says nothing about a missing one."""
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="yubin.settings", YUBIN_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    logged = "import logging\nlogging.basicConfig(level=logging.WARNING)\n"
    result = subprocess.run(
        [sys.executable, "-c", logged + PUBLISH], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
