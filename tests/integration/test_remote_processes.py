"""Remotes under several processes: concurrent pushes from two stores (folder and S3), and
push/pull interrupted by SIGINT, SIGTERM and kill -9 at several moments."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.s3_helpers import MotoServer, moto_server  # noqa: F401
from tests.serving_helpers import ACTOR, make_project

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(moto_server) -> MotoServer:  # noqa: F811 - the imported fixture, requested
    """The session's S3-compatible server (tests/s3_helpers.py)."""
    return moto_server


def mlops(store: Path, *args, env: dict | None = None) -> subprocess.Popen:
    full = {**os.environ, "MLOPS_ACTOR": ACTOR, **(env or {})}
    full.pop("MLOPS_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", *map(str, args), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )


def run(store: Path, *args, env: dict | None = None) -> tuple[int, str, str]:
    process = mlops(store, *args, env=env)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


@contextmanager
def opened(store: Path):
    from mlops_cli.store import open_store

    handle = open_store(store)
    try:
        yield handle
    finally:
        handle.close()


def new_store(folder: Path, name: str, versions: int, url: str, size: int = 50_000) -> tuple[Path, list[str]]:
    """A store (in this process: only the pushes under test are separate processes) with
    `versions` versions of `name` and remote `team` at `url`."""
    from mlops_cli.models.registering import register_model
    from mlops_cli.remote.config import add_remote

    store = make_project(folder) / ".mlops"
    digests = []
    with opened(store) as handle:
        for i in range(versions):
            model = folder / f"m{i}.bin"
            model.write_bytes(os.urandom(size))
            digests.append(register_model(handle, model, name=name).digest)
        add_remote(handle, "team", url)
    return store, digests


@pytest.fixture(params=["folder", "s3"])
def target(request, tmp_path, monkeypatch):
    """(url, env) of a fresh remote of each kind; the env is this process's too."""
    if request.param == "folder":
        return str(tmp_path / "remote"), {}
    server = request.getfixturevalue("s3")
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    return f"s3://{server.new_bucket()}/reg", server.env


def remote_digests(folder: Path, url: str, *refs: str) -> dict[str, str]:
    """{remote ref: digest} as a fresh store pulling them (default: everything) sees it."""
    from mlops_cli.audit.trail import verify_store
    from mlops_cli.remote.pull import pull

    probe, _ = new_store(folder, "unused", 0, url)
    with opened(probe) as handle:
        result = pull(handle, list(refs), all_versions=not refs)
        verify_store(handle)
    return {v.remote_ref: v.digest for v in result.versions}


def test_two_stores_pushing_the_same_number_at_once(target, tmp_path):
    """Each round: exactly one push wins churn:1, the other gets exit 6 naming both digests."""
    url, env = target
    for round_ in range(2 if not env else 1):  # S3 processes start slowly (s3fs imports ~2 s)
        name = f"churn{round_}"
        b, [digest_b] = new_store(tmp_path / f"b{round_}", name, 1, url)
        c, [digest_c] = new_store(tmp_path / f"c{round_}", name, 1, url)
        pushes = [mlops(b, "push", "--all", env=env), mlops(c, "push", "--all", env=env)]
        results = [(p.wait(300), p.stderr.read()) for p in pushes]
        assert sorted(code for code, _ in results) == [0, 6], results
        loser_err = next(err for code, err in results if code == 6)
        assert digest_b in loser_err and digest_c in loser_err
        winner = digest_b if results[0][0] == 0 else digest_c
        assert remote_digests(tmp_path / f"probe{round_}", url, f"{name}:1") == {f"{name}:1": winner}


def test_concurrent_renumbered_pushes_lose_nothing(target, tmp_path):
    url, env = target
    b, digests_b = new_store(tmp_path / "b", "churn", 3, url)
    c, digests_c = new_store(tmp_path / "c", "churn", 3, url)
    pushes = [mlops(s, "push", "--all", "--renumber", "--json", env=env) for s in (b, c)]
    outputs = [(p.wait(300), p.stdout.read(), p.stderr.read()) for p in pushes]
    assert [code for code, _, _ in outputs] == [0, 0], outputs
    on_remote = remote_digests(tmp_path / "probe", url)
    assert sorted(on_remote) == [f"churn:{n}" for n in range(1, 7)]
    assert sorted(on_remote.values()) == sorted(digests_b + digests_c)
    # each store's own report agrees with what the remote holds
    for _, out, _ in outputs:
        for version in json.loads(out)["versions"]:
            assert on_remote[version["remote_ref"]] == version["digest"]


def _remote_is_sound(remote: Path) -> None:
    """Every blob under its final name is whole; every record and event parses."""
    for blob in (remote / "blobs" / "sha256").glob("*/*"):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.parent.name + blob.name
    for record in [*(remote / "models").glob("*/*.json"), *(remote / "events").glob("*/*.json")]:
        json.loads(record.read_text())


def _interrupt(process: subprocess.Popen, tmp: Path, sig: int, delay: float) -> None:
    """Send `sig` `delay` seconds after the process starts writing into `tmp` (mid-transfer)."""
    deadline = time.monotonic() + 60
    while not (tmp.is_dir() and any(tmp.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(sig)
    process.wait(120)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "delay"), [(signal.SIGINT, 0.0), (signal.SIGTERM, 0.2), (signal.SIGKILL, 0.1)]
)
def test_interrupted_push_and_pull_leave_both_sides_sound(tmp_path, sig, delay):
    """Killed mid-transfer: the remote holds no partial blob under its name, the
    store verifies, and the next push or pull finishes the work."""
    from mlops_cli.audit.trail import verify_store
    from mlops_cli.remote.pull import pull
    from mlops_cli.remote.push import push

    remote = tmp_path / "remote"
    a, digests = new_store(tmp_path / "a", "big", 2, str(remote), size=32 * 2**20)
    _interrupt(mlops(a, "push", "--all"), remote / "tmp", sig, delay)
    if remote.exists():
        _remote_is_sound(remote)
    with opened(a) as handle:
        verify_store(handle)
        push(handle, [], all_versions=True)  # finishes what was cut short

    b, _ = new_store(tmp_path / "b", "unused", 0, str(remote))
    _interrupt(mlops(b, "pull", "--all"), b / "tmp", sig, delay)
    with opened(b) as handle:
        verify_store(handle)
        pull(handle, [], all_versions=True)
        verify_store(handle)
        assert sorted(v.digest for v in handle_versions(handle, "big")) == sorted(digests)


def handle_versions(handle, name: str):
    from mlops_cli.store import registry

    return registry.list_versions(handle.conn, name)
