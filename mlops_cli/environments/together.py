"""Which versions can share one server (`serve`, `package` and `deploy` of several REFs).

One server is one Python process: the versions with an environment must share it, and an
Azure-form script reads `AZUREML_MODEL_DIR`, which a process has once, so it cannot sit beside
another entry script (whose loading sets that variable too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlops_cli.domain import ModelVersion
from mlops_cli.environments.venvs import Environment, environment_for
from mlops_cli.errors import UsageError


def check_together(versions: list[ModelVersion], env_manager: str = "virtualenv") -> None:
    """UsageError when the versions cannot be served by one server (one line saying why)."""
    refs = [v.ref for v in versions]
    repeated = sorted({r for r in refs if refs.count(r) > 1})
    if repeated:
        raise UsageError(f"{', '.join(repeated)} given more than once")
    if len(versions) < 2:
        return
    scripts = [v for v in versions if v.entry is not None]
    azure = [v.ref for v in scripts if v.runs_own_model]
    if azure and len(scripts) > 1:
        raise UsageError(
            f"{azure[0]} has an Azure-form entry script (init/run): it reads AZUREML_MODEL_DIR, one per"
            f" server, so it cannot share one with {', '.join(v.ref for v in scripts if v.ref != azure[0])}",
            hint="serve or deploy it on its own",
        )
    digests = {v.entry["environment"]["digest"] for v in scripts if v.entry.get("environment")}
    if env_manager == "virtualenv" and len(digests) > 1:
        raise UsageError(
            "these versions need different environments, and one server runs in one",
            hint="serve them separately, or pass --env-manager local",
        )


def shared_environment(
    envs_dir: Path,
    versions: list[ModelVersion],
    env_manager: str = "virtualenv",
    notify: Callable[[str], None] | None = None,
) -> Environment | None:
    """The one environment the versions run in (built or reused), None for this interpreter."""
    entry = next((v.entry for v in versions if v.entry and v.entry.get("environment")), None)
    return environment_for(envs_dir, entry, env_manager, notify=notify)
