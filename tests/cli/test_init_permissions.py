"""A store made by an older mlops (0755) becomes owner-only at the next `mlops init`, which says
so; no other command changes its mode behind the user's back."""

from __future__ import annotations

import os
import stat


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_tightens_an_existing_store_and_says_so(cli, project):
    root = project / ".mlops"
    assert _mode(root) == 0o700  # a new store is owner-only
    os.chmod(root, 0o755)  # as an older mlops left it
    assert cli("models", "list").exit_code == 0
    assert _mode(root) == 0o755  # opening it changes nothing

    human = cli("init")
    assert human.exit_code == 0
    assert "owner-only: mode 0755 -> 0700" in human.stdout
    assert _mode(root) == 0o700

    os.chmod(root, 0o750)
    result = cli("init", "--json")
    assert result.exit_code == 0
    assert result.json["mode"] == "0700" and result.json["tightened_from"] == "0750"
    assert result.json["created"] is False

    again = cli("init", "--json")  # already owner-only: nothing to say
    assert again.json["tightened_from"] is None and "owner-only" not in cli("init").stdout


def test_init_keeps_the_owners_own_bits(cli, project):
    root = project / ".mlops"
    os.chmod(root, 0o577)  # an odd mode: only group and other bits are taken away
    assert cli("init", "--json").json["tightened_from"] == "0577"
    assert _mode(root) == 0o500
    os.chmod(root, 0o700)
