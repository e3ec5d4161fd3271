"""The admin CLI: `manage.py yubin ...` as an operator runs it, in a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from store.models import Account, Alias, Domain


def yubin(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "yubin", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_domain_account_alias_lifecycle(subprocess_env):
    env = subprocess_env
    assert yubin(env, "domain", "add", "Example.TEST").returncode == 0
    assert Domain.objects.filter(name="example.test").exists()
    added = yubin(
        env, "account", "add", "Taro@example.test", "--password-stdin", "--quota", "2G", stdin="s3cret-pass\n"
    )
    assert added.returncode == 0, added.stderr
    account = Account.objects.get(address="taro@example.test")
    assert account.quota == 2 * 1024**3 and account.check_password("s3cret-pass")
    assert account.password.startswith("argon2")
    assert yubin(env, "alias", "add", "info@example.test", "taro@example.test", "ext@remote.test").returncode == 0
    assert Alias.objects.get(source="info@example.test").destinations == ["taro@example.test", "ext@remote.test"]
    listing = yubin(env, "account", "list")
    assert "taro@example.test" in listing.stdout and "2G" in listing.stdout
    assert "info@example.test" in yubin(env, "alias", "list").stdout
    assert (
        yubin(env, "account", "passwd", "taro@example.test", "--password-stdin", stdin="another-pass\n").returncode == 0
    )
    account.refresh_from_db()
    assert account.check_password("another-pass")
    assert yubin(env, "alias", "remove", "info@example.test").returncode == 0
    assert yubin(env, "account", "remove", "taro@example.test").returncode == 0
    assert yubin(env, "domain", "remove", "example.test").returncode == 0
    assert not Domain.objects.exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("account", "add", "not-an-address", "--password-stdin"), "longenough\n", "invalid address"),
        (("account", "add", "x@unknown.test", "--password-stdin"), "longenough\n", "no such domain"),
        (("account", "add", "dup@example.test", "--password-stdin"), "longenough\n", "already exists"),
        (("account", "add", "short@example.test", "--password-stdin"), "short\n", "too short"),
        (("domain", "add", "example.test"), "", "already exists"),
        (("domain", "add", "bad_domain"), "", "invalid domain"),
        (("alias", "add", "a@example.test", "nobody@example.test"), "", "no such local address"),
        (("account", "add", "q@example.test", "--quota", "lots"), "", "expected a size"),
        (("domain", "remove", "missing.test"), "", "no such domain"),
    ],
)
def test_bad_input_is_one_line_and_status_1(subprocess_env, args, stdin, message):
    """Bad input gets a one-line error and exit status 1, never a traceback."""
    assert yubin(subprocess_env, "domain", "add", "example.test").returncode == 0
    assert (
        yubin(subprocess_env, "account", "add", "dup@example.test", "--password-stdin", stdin="longenough\n").returncode
        == 0
    )
    result = yubin(subprocess_env, *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_alias_loop_refused(subprocess_env):
    env = subprocess_env
    yubin(env, "domain", "add", "example.test")
    yubin(env, "account", "add", "taro@example.test", "--password-stdin", stdin="longenough\n")
    assert yubin(env, "alias", "add", "a@example.test", "taro@example.test").returncode == 0
    assert yubin(env, "alias", "add", "b@example.test", "a@example.test").returncode == 0
    Alias.objects.filter(source="a@example.test").update(destinations=["b@example.test"])
    result = yubin(env, "alias", "add", "c@example.test", "a@example.test")
    assert result.returncode == 1 and "alias loop" in result.stderr
