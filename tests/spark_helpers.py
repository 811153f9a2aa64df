"""Spark for tests: skipped without pyspark or Java (MLOPS_REQUIRE_SPARK=1, as in CI, fails
instead), and a REAL standalone cluster on 127.0.0.1 for the session: a master and two workers
(1 core, 1 GB each) started from pyspark's own launcher, so jobs run in executors in other JVMs
with their own Python workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.s3_helpers import free_port

LOCAL_IP = "127.0.0.1"


def require_spark() -> Path:
    """SPARK_HOME (the pyspark package folder), or skip/fail when Spark cannot run here."""
    reason = None
    try:
        import pyspark

        home = Path(pyspark.__file__).parent
    except ImportError:
        reason = "pyspark is not installed"
    if reason is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        reason = "no Java runtime"
    if reason is not None:
        if os.environ.get("MLOPS_REQUIRE_SPARK") == "1":
            pytest.fail(f"MLOPS_REQUIRE_SPARK=1 but Spark cannot run: {reason}")
        pytest.skip(reason)
    return home


def spark_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP=LOCAL_IP)
    env.setdefault("SPARK_NO_DAEMONIZE", "1")
    return env


# The driver binds 127.0.0.1 too, so executors connect back to it there (never another interface).
DRIVER_CONF = ("spark.driver.host=127.0.0.1", "spark.driver.bindAddress=127.0.0.1")


@dataclass
class Cluster:
    master: str
    web: str
    work_dirs: list[Path]
    processes: list[subprocess.Popen]

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"{self.web}/json/", timeout=5) as response:
            return int(json.load(response).get("aliveworkers", 0))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the group it leads: the JVM and its executors
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_cluster(home: Path, folder: Path, workers: int = 2) -> Cluster:
    env = spark_env(home)
    spark_class = str(home / "bin" / "spark-class")
    port, web_port = free_port(), free_port()
    processes = []

    def launch(name: str, *args: str) -> subprocess.Popen:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process's life
        process = subprocess.Popen(
            [spark_class, *args], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        processes.append(process)
        return process

    launch("master", "org.apache.spark.deploy.master.Master", "--host", LOCAL_IP, "--port", str(port),
           "--webui-port", str(web_port))  # fmt: skip
    cluster = Cluster(f"spark://{LOCAL_IP}:{port}", f"http://{LOCAL_IP}:{web_port}", [], processes)
    _wait(lambda: _answers(cluster.web), 120, "the Spark master", folder / "master.log")
    for index in range(workers):
        work = folder / f"worker-{index}"
        work.mkdir()
        cluster.work_dirs.append(work)
        launch(f"worker-{index}", "org.apache.spark.deploy.worker.Worker", cluster.master,
               "--host", LOCAL_IP, "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
               "--work-dir", str(work))  # fmt: skip
    _wait(lambda: cluster.alive_workers() >= workers, 180, "two Spark workers", folder / "worker-1.log")
    return cluster


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/json/", timeout=2).close()
        return True
    except OSError:
        return False


def _wait(check, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    tail = log.read_text()[-2000:] if log.exists() else ""
    pytest.fail(f"{what} did not start within {seconds:.0f}s: {tail}")


@pytest.fixture(scope="session")
def spark_home() -> Path:
    return require_spark()


@pytest.fixture(scope="session")
def spark_cluster(spark_home, tmp_path_factory) -> Cluster:
    cluster = start_cluster(spark_home, tmp_path_factory.mktemp("spark-cluster"))
    yield cluster
    cluster.stop()
