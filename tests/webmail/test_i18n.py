"""The Japanese interface: every webmail string translated, and the compiled catalogue current."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

LOCALE = Path(__file__).resolve().parents[2] / "webmail" / "locale" / "ja" / "LC_MESSAGES"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is not installed")
def test_catalogue_complete_and_compiled(tmp_path):
    """msgfmt finds no untranslated or fuzzy entries, and the committed .mo matches the .po."""
    compiled = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(compiled), str(LOCALE / "django.po")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    assert compiled.read_bytes() == (LOCALE / "django.mo").read_bytes()


def test_japanese_strings_in_use():
    """Activating Japanese translates the interface's words."""
    with translation.override("ja"):
        assert translation.gettext("Compose") == "作成"
        assert translation.gettext("Inbox") == "受信トレイ"
