"""Who is acting, on which host, from which git state: stamped on every change."""

from __future__ import annotations

import configparser
import getpass
import os
import socket
from functools import lru_cache
from pathlib import Path

from mlops_cli.domain import GitInfo, Provenance

ACTOR_ENV = "MLOPS_ACTOR"


def git_info(path: Path) -> GitInfo | None:
    """The git repository containing `path`: root, branch, commit, dirty flag; None outside git."""
    try:
        import git  # gitpython: imported here, it costs ~100 ms at start-up
    except ImportError:
        return None
    folder = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError, OSError):
        return None
    try:
        commit = repo.head.commit.hexsha if repo.head.is_valid() else None
        branch = None if repo.head.is_detached else repo.active_branch.name
        dirty = repo.is_dirty(untracked_files=False)
        remote = next((r.url for r in repo.remotes), None) if repo.remotes else None
        return GitInfo(
            repo=str(repo.working_tree_dir), branch=branch, commit=commit, dirty=dirty, remote=remote
        )
    except (git.GitCommandError, ValueError, TypeError, OSError):
        return GitInfo(repo=str(repo.working_tree_dir), branch=None, commit=None, dirty=True)
    finally:
        repo.close()


@lru_cache(maxsize=1)
def current_actor() -> str:
    """MLOPS_ACTOR, else git's user.email, else the OS user."""
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        import git

        email = git.GitConfigParser(read_only=True).get_value("user", "email", default="")
        if email:
            return str(email)
    except (ImportError, OSError, ValueError, KeyError, configparser.Error):
        pass  # no readable git config: fall back to the OS user
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
