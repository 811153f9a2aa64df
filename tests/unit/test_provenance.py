"""`git_info` asks git itself (no GitPython import): the same fields GitPython gave, checked
against GitPython's own answers in a clean tree, a dirty one (staged or not), a detached HEAD,
an unborn branch, a linked worktree, and outside git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_cli.audit import provenance as prov
from mlops_cli.domain import GitInfo


def _gitpython_info(path: Path) -> GitInfo | None:
    """What `git_info` returned before (GitPython), kept here as the reference."""
    git = pytest.importorskip("git")
    folder = path if path.is_dir() else path.parent
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        commit = repo.head.commit.hexsha if repo.head.is_valid() else None
        branch = None if repo.head.is_detached else repo.active_branch.name
        dirty = repo.is_dirty(untracked_files=False)
        remote = next((r.url for r in repo.remotes), None) if repo.remotes else None
        return GitInfo(str(repo.working_tree_dir), branch, commit, dirty, remote)
    finally:
        repo.close()


def git(cwd: Path, *args: str) -> str:
    run = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args]
    return subprocess.run(run, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "sub" / "a.txt").write_text("a\n")
    (root / "big.bin").write_bytes(b"x" * 100_000)
    git(root, "add", ".")
    git(root, "commit", "-qm", "one")
    return root


def check(path: Path) -> GitInfo | None:
    found = prov.git_info(path)
    assert found == _gitpython_info(path)
    return found


def test_clean_tree_from_the_root_a_subfolder_and_a_file(repo):
    head = git(repo, "rev-parse", "HEAD")
    for path in (repo, repo / "sub", repo / "sub" / "a.txt"):
        assert check(path) == GitInfo(str(repo), "main", head, False, None)
    (repo / "untracked.txt").write_text("u\n")  # untracked files do not make a tree dirty
    assert check(repo).dirty is False


def test_dirty_tree_staged_or_not_and_a_touched_file_is_not_dirty(repo):
    (repo / "sub" / "a.txt").write_text("b\n")
    assert check(repo).dirty is True
    git(repo, "add", "sub/a.txt")
    assert check(repo).dirty is True  # staged only
    git(repo, "commit", "-qm", "two")
    assert check(repo).dirty is False
    (repo / "big.bin").touch()  # stat changed, content not: git's stat cache is refreshed
    assert check(repo).dirty is False
    (repo / "big.bin").unlink()
    assert check(repo).dirty is True


def test_detached_head_unborn_branch_and_remote(repo, tmp_path):
    first = git(repo, "rev-parse", "HEAD")
    (repo / "sub" / "a.txt").write_text("b\n")
    git(repo, "commit", "-qam", "two")
    git(repo, "checkout", "-q", "--detach", first)
    assert check(repo) == GitInfo(str(repo), None, first, False, None)
    git(repo, "remote", "add", "origin", "https://example.com/a.git")
    git(repo, "remote", "add", "backup", "/srv/b.git")
    assert check(repo).remote == "https://example.com/a.git"

    unborn = tmp_path / "unborn"
    unborn.mkdir()
    git(unborn, "init", "-q", "-b", "trunk")
    assert check(unborn) == GitInfo(str(unborn), "trunk", None, False, None)
    (unborn / "f").write_text("f")
    git(unborn, "add", "f")
    assert check(unborn).dirty is True


def test_linked_worktree_and_outside_git(repo, tmp_path):
    git(repo, "branch", "side")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "side")
    assert check(linked) == GitInfo(str(linked), "side", git(repo, "rev-parse", "HEAD"), False, None)
    outside = tmp_path / "outside"
    outside.mkdir()
    assert prov.git_info(outside) is None


def test_a_repository_git_refuses_is_dirty_with_no_commit(repo):
    (repo / ".git" / "index").write_bytes(b"not an index")
    found = prov.git_info(repo)
    assert found == GitInfo(str(repo), None, None, True, None)


def test_no_git_executable_gives_none(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "nowhere"))
    assert prov.git_info(repo) is None


def test_actor_from_git_config_without_gitpython(tmp_path, monkeypatch):
    (tmp_path / ".gitconfig").write_text("[user]\n\temail = someone@example.com\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.delenv(prov.ACTOR_ENV, raising=False)
    prov.current_actor.cache_clear()
    try:
        assert prov.current_actor() == "someone@example.com"
    finally:
        prov.current_actor.cache_clear()


def test_asking_git_never_writes_the_repository(repo):
    """`git status` refreshes and rewrites a stale index under `index.lock`; a user's own
    `git commit` at that moment would fail on the lock. Asked with GIT_OPTIONAL_LOCKS=0, the
    index is read, never written, even when a touched file makes its stat cache stale."""
    import os
    import time

    index = repo / ".git" / "index"
    before = index.stat().st_mtime_ns
    time.sleep(0.01)
    later = time.time() + 5
    os.utime(repo / "big.bin", (later, later))  # stat changed, content not
    assert prov.git_info(repo).dirty is False
    assert index.stat().st_mtime_ns == before
    assert not (repo / ".git" / "index.lock").exists()
