"""Target platforms (`linux/amd64`, `linux/arm64`): what a package or bundle is built for.

One place turns the OCI platform names users write into the machine names and the wheel
platform tags pip needs, so images, bundles and wheelhouses agree.
"""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import ExternalToolError, UsageError

# OCI architecture -> the machine name that wheel tags and `uname -m` use.
_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "arm64/v8": "arm64"}
# Debian bookworm (glibc 2.36) runs any manylinux wheel up to 2_36.
_GLIBC_MINORS = range(17, 37)


@dataclass(frozen=True)
class Platform:
    """An OCI platform such as linux/arm64."""

    os: str
    architecture: str

    @property
    def name(self) -> str:
        return f"{self.os}/{self.architecture}"

    @property
    def machine(self) -> str:
        return _MACHINES[self.architecture]

    def wheel_tags(self) -> tuple[str, ...]:
        """The platform tags of the wheels that install on this platform (plus pure `any`)."""
        machine = self.machine
        return (f"manylinux2014_{machine}", *(f"manylinux_2_{m}_{machine}" for m in _GLIBC_MINORS))

    def __str__(self) -> str:
        return self.name


def host() -> Platform:
    """The platform of this machine."""
    machine = host_platform.machine().lower()
    return Platform("linux", _ALIASES.get(machine, machine))


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def require_emulation(target: Platform) -> None:
    """Return when this machine can run `target`'s binaries (natively or through binfmt_misc).

    ExternalToolError (exit 4) naming how to enable qemu otherwise: a cross build's RUN steps
    and the image's smoke run need it.
    """
    if target == host():
        return
    entry = BINFMT / f"qemu-{target.machine}"
    try:
        enabled = entry.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        enabled = False
    if not enabled:
        raise ExternalToolError(
            f"this {host()} machine cannot run {target} binaries: no qemu-{target.machine} emulation"
            " is registered in binfmt_misc",
            hint="apt-get install qemu-user-static binfmt-support; mount -t binfmt_misc binfmt_misc"
            f" /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-{target.machine}",
        )


def parse(text: str, option: str = "--platform") -> Platform:
    """`linux/amd64`, `linux/arm64` (also `linux/arm64/v8`, `amd64`, `aarch64`): UsageError otherwise."""
    cleaned = text.strip().lower()
    os_name, _, arch = cleaned.partition("/") if "/" in cleaned else ("linux", "", cleaned)
    arch = _ALIASES.get(arch, arch)
    if os_name != "linux" or arch not in _MACHINES:
        known = ", ".join(f"linux/{a}" for a in _MACHINES)
        raise UsageError(f"unknown {option} {text!r}", hint=f"use one of {known}")
    return Platform("linux", arch)


def parse_many(texts: list[str]) -> list[Platform]:
    """Several platforms (repeated or comma-separated), deduplicated in the order given."""
    found: list[Platform] = []
    for text in texts:
        for part in text.split(","):
            if part.strip():
                wanted = parse(part)
                if wanted not in found:
                    found.append(wanted)
    return found
