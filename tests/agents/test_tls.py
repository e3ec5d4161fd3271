"""The self-signed certificate made on first start: processes starting together share one pair."""

from __future__ import annotations

import multiprocessing
import ssl
from pathlib import Path


def _ensure_and_load(directory: str, start: object, results: object) -> None:
    from agents.tls import certificate_ensure

    start.wait()  # type: ignore[attr-defined]
    cert, key = certificate_ensure(
        hostname="mail.test", cert_path=f"{directory}/tls/cert.pem", key_path=f"{directory}/tls/key.pem"
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))  # raises on a partial file or a key of another pair
    results.put(cert.read_bytes())  # type: ignore[attr-defined]


def test_processes_starting_together_make_one_loadable_pair(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")
    start, results = fork.Event(), fork.Queue()
    workers = [fork.Process(target=_ensure_and_load, args=(str(tmp_path), start, results)) for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    certificates = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(set(certificates)) == 1
    assert sorted(path.name for path in (tmp_path / "tls").iterdir()) == ["cert.pem", "cert.pem.lock", "key.pem"]
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
