"""Every environment variable the settings read is documented in the README's configuration tables."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme():
    settings_source = (ROOT / "yubin" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|int|bool|size)\("([A-Z0-9_]+)"', settings_source))
    read |= {"YUBIN_DATA_DIR", "DATABASE_URL", "CELERY_BROKER_URL"}
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", readme, re.M))
    documented |= set(re.findall(r"`([A-Z0-9_]+)` / `[A-Z0-9_]+`", readme))
    documented |= set(re.findall(r"`[A-Z0-9_]+` / `([A-Z0-9_]+)`", readme))
    missing = sorted(read - documented)
    assert not missing, f"settings not documented in README: {missing}"
