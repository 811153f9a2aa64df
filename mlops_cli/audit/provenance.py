"""Who is acting, on which host, from which git state: stamped on every change.

Git is asked through its own command line, never a library: `git status` answers the commit,
the branch and the dirty flag in one process (from the index's stat cache, so a workspace of
large tracked or ignored data costs no re-read), `git config` the first remote. Outside a
repository nothing is started at all. GitPython did the same with two `git diff` processes
after an import of about 100 ms that every recording command paid.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from functools import lru_cache
from pathlib import Path

from mlops_cli.domain import GitInfo, Provenance

ACTOR_ENV = "MLOPS_ACTOR"
GIT_TIMEOUT_S = 60.0  # a status over a huge work tree whose stat cache is stale re-hashes it

# One line per branch fact (`# branch.oid`, `# branch.head`), then one per changed tracked
# path; untracked files are not asked for (not dirty, as GitPython's is_dirty() default).
_STATUS = ("status", "--porcelain=v2", "--branch", "--no-ahead-behind", "--untracked-files=no")
_REMOTE_URLS = ("config", "--local", "--get-regexp", r"^remote\..*\.url$")


def git_info(path: Path) -> GitInfo | None:
    """The git repository containing `path`: root, branch, commit, dirty flag and first remote.

    None outside git or without a `git` executable. Dirty means changes to tracked files, staged
    or not (`git status --untracked-files=no` lists something). A repository git refuses to read
    (another user's, an unreadable index) gives branch and commit None and dirty True.
    """
    root = _work_tree(path if path.is_dir() else path.parent)
    if root is None:
        return None
    try:
        status = _start_git(root, _STATUS)
        remotes = _start_git(root, _REMOTE_URLS)  # both run at once
    except OSError:  # no git executable
        return None
    code, out = _wait(status)
    remote = _first_remote(*_wait(remotes))
    if code != 0:
        return GitInfo(repo=str(root), branch=None, commit=None, dirty=True, remote=remote)
    commit = branch = None
    dirty = False
    for line in out.splitlines():
        if line.startswith("# branch.oid "):
            commit = _known(line[len("# branch.oid ") :], "(initial)")
        elif line.startswith("# branch.head "):
            branch = _known(line[len("# branch.head ") :], "(detached)")
        elif line and not line.startswith("#"):
            dirty = True
    return GitInfo(repo=str(root), branch=branch, commit=commit, dirty=dirty, remote=remote)


def _work_tree(folder: Path) -> Path | None:
    """The nearest folder upwards holding a `.git` folder (with a HEAD) or a `gitdir:` file."""
    folder = Path(os.path.normpath(folder.absolute()))
    for candidate in (folder, *folder.parents):
        dotgit = candidate / ".git"
        if (dotgit / "HEAD").is_file():
            return candidate
        if dotgit.is_file():  # a worktree or submodule: `gitdir: PATH`
            try:
                if dotgit.read_text(errors="replace").startswith("gitdir:"):
                    return candidate
            except OSError:
                continue
    return None


def _start_git(root: Path, args: tuple[str, ...]) -> subprocess.Popen:
    """git in `root`, never taking the repository's optional locks: `git status` would otherwise
    write its refreshed index under `index.lock`, and the user's own `git commit` running at that
    moment would fail on the lock (what IDEs' background status calls avoid the same way)."""
    return subprocess.Popen(
        ["git", *args],
        cwd=root,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )


def _wait(process: subprocess.Popen) -> tuple[int, str]:
    try:
        out, _ = process.communicate(timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return -1, ""
    return process.returncode, out


def _first_remote(code: int, out: str) -> str | None:
    """The url of the first remote in the repository's config (its last url, as git reads it)."""
    urls: dict[str, str] = {}
    for line in out.splitlines() if code == 0 else ():
        key, _, url = line.partition(" ")
        urls[key.lower()] = url  # dicts keep the first remote first; a later url wins
    return next(iter(urls.values()), None)


def _known(value: str, unknown: str) -> str | None:
    value = value.strip()
    return None if not value or value == unknown else value


@lru_cache(maxsize=1)
def current_actor() -> str:
    """MLOPS_ACTOR, else git's user.email (global, then system config), else the OS user."""
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    for scope in ("--global", "--system"):
        try:
            # From "/": the cwd may be gone, and a repository's own config is not asked for.
            code, email = _wait(_start_git(Path("/"), ("config", scope, "--get", "user.email")))
        except OSError:  # no git executable
            break
        if code == 0 and email.strip():
            return email.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def provenance(message: str | None = None, git_path: Path | None = None) -> Provenance:
    """The provenance of a change made now from `git_path` (default: the current folder)."""
    return Provenance(
        actor=current_actor(),
        host=socket.gethostname(),
        git=git_info(git_path or Path.cwd()),
        message=message,
    )
