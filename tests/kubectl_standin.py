"""A STAND-IN `kubectl` for tests: no Kubernetes cluster can run on this machine (no kind, k3s or
minikube can be had offline), so tests put this script first on PATH. It is not a fake cluster:
it records every call (argv and, for `-f -`, stdin) and answers with canned replies, so the tests
check the exact command lines and YAML the target sends and how it reacts to kubectl's answers.
The real kubectl is used where it can be (its own errors for an unknown context or a cluster
that does not answer: tests/unit/test_kubectl.py), and a real cluster by
tests/integration/test_kubernetes_cluster.py when MLOPS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
# STAND-IN for kubectl written by tests/kubectl_standin.py (no cluster can exist here).
import json, sys, time
from pathlib import Path
home = Path({home!r})
argv = sys.argv[1:]
stdin = sys.stdin.read() if "-f" in argv and "-" in argv else None
with open(home / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"argv": argv, "stdin": stdin}}) + "\\n")
rules = json.loads((home / "rules.json").read_text())
counts_file = home / "counts.json"
counts = json.loads(counts_file.read_text()) if counts_file.exists() else {{}}
for index, rule in enumerate(rules):
    if not all(token in argv for token in rule["match"]):
        continue
    used = counts.get(str(index), 0)
    if rule.get("times") is not None and used >= rule["times"]:
        continue
    counts[str(index)] = used + 1
    counts_file.write_text(json.dumps(counts))
    time.sleep(rule.get("sleep", 0))
    sys.stdout.write(rule.get("stdout", ""))
    sys.stderr.write(rule.get("stderr", ""))
    sys.exit(rule.get("rc", 0))
sys.exit(0)
"""


class StandinKubectl:
    """The stand-in's folder: `reply(...)` adds a canned answer, `calls` lists what was run."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        (home / "rules.json").write_text("[]")
        script = home / "kubectl"
        script.write_text(SCRIPT.format(python=sys.executable, home=str(home)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def reply(
        self,
        *match: str,
        stdout: str | dict = "",
        stderr: str = "",
        rc: int = 0,
        times: int | None = None,
        sleep: float = 0,
    ) -> None:
        """Answer calls whose argv contains every token of `match` (first added rule wins;
        `times` limits how often it answers before the next matching rule takes over)."""
        rules = json.loads((self.home / "rules.json").read_text())
        text = json.dumps(stdout) if isinstance(stdout, dict) else stdout
        rules.append(
            {"match": list(match), "stdout": text, "stderr": stderr, "rc": rc, "times": times, "sleep": sleep}
        )
        (self.home / "rules.json").write_text(json.dumps(rules))

    @property
    def calls(self) -> list[dict]:
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls]


def install(home: Path, monkeypatch) -> StandinKubectl:
    """Write the stand-in into `home` and put it first on PATH for this test."""
    standin = StandinKubectl(home)
    monkeypatch.setenv("PATH", f"{home}{os.pathsep}{os.environ.get('PATH', '')}")
    return standin
