"""The root command `main()` runs: each sub-command is built from the Typer app on first use.

`typer.main.get_command(app)` turns every registered command into a click command before any
runs: for each one it reads the signature and evaluates every annotation (`get_type_hints`),
about 70 ms of CPU for this CLI's 43 commands, paid by every `mlops ...` although only one of
them is invoked. Here the root group is built without its commands and `commands` is a mapping
whose values are built when looked up: a run builds one command (or one sub-group), `mlops
--help` and completion build them all. The registrations in app.py stay the single source;
tests, the docs reference and the completions still use `typer.main.get_command(app)`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, MutableMapping
from functools import partial
from typing import Any

import typer
import typer.main


class LazyCommands(MutableMapping):
    """name -> click command, each built by its builder on first access (in registration order)."""

    def __init__(self, builders: dict[str, Callable[[], Any]], on_load: Callable[[Any], None]) -> None:
        self._builders = builders
        self._built: dict[str, Any] = {}
        self._on_load = on_load

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            builder = self._builders[name]  # KeyError: no such command, as a dict says
            command = builder()
            self._built[name] = command
            self._on_load(command)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._builders[name] = lambda: command

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def loaded(self) -> list[Any]:
        """The commands built so far (walks that prepare commands visit only these)."""
        return list(self._built.values())


def loaded_commands(command: Any) -> list[Any]:
    """A group's sub-commands that exist as click commands: all of an eager group's, only the
    built ones of a lazy group (the others are prepared when they are built)."""
    commands = getattr(command, "commands", None)
    if commands is None:
        return []
    if isinstance(commands, LazyCommands):
        return commands.loaded()
    return list(commands.values())


def root_command(app: typer.Typer) -> Any:
    """The app's root group (its class, callback and options) with sub-commands built on demand,
    sub-groups too (`mlops models list` builds `models` and `list`, not the other nine).

    The group's class must prepare what is built: `MlopsGroup.prepare_loaded`.
    """
    root = typer.main.get_command(_bare(app))
    options = {
        "pretty_exceptions_short": app.pretty_exceptions_short,
        "rich_markup_mode": app.rich_markup_mode,
    }
    root.commands = _lazy_commands(app, root.prepare_loaded, options, app.suggest_commands)
    return root


def _bare(app: typer.Typer) -> typer.Typer:
    """The same Typer (settings, callback) without commands to convert."""
    bare = copy.copy(app)
    bare.registered_commands = []
    bare.registered_groups = []
    return bare


def _lazy_commands(
    app: typer.Typer, prepare: Callable[[Any], None], options: dict[str, Any], suggest: bool
) -> LazyCommands:
    builders: dict[str, Callable[[], Any]] = {}
    for info in app.registered_commands:
        name = info.name or typer.main.get_command_name(info.callback.__name__)
        builders[name] = partial(typer.main.get_command_from_info, info, **options)
    for info in app.registered_groups:
        assert info.name, "every sub-app of mlops is added with a name"
        builders[info.name] = partial(_lazy_group, info, prepare, options, suggest)
    return LazyCommands(builders, on_load=prepare)


def _lazy_group(info: Any, prepare: Callable[[Any], None], options: dict[str, Any], suggest: bool) -> Any:
    bare_info = copy.copy(info)
    bare_info.typer_instance = _bare(info.typer_instance)
    group = typer.main.get_group_from_info(bare_info, suggest_commands=suggest, **options)
    group.commands = _lazy_commands(info.typer_instance, prepare, options, suggest)
    return group
