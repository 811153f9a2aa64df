"""Which app serves a bundle: a plain ONNX version (ServingApp), one run by its entry script
(EntryApp, a ServingApp subclass), or several behind the multi-model router. Apart from app.py,
so the base class never has to know its subclasses.
"""

from __future__ import annotations

from typing import Any

from mlops_cli.serving.app import ServingApp
from mlops_cli.serving.bundle import read_bundle
from mlops_cli.serving.config import ServeConfig


def create_app() -> Any:
    """The uvicorn factory: reads the ServeConfig its parent process put in the environment."""
    from mlops_cli.serving.server import configure_logging

    config = ServeConfig.from_env()
    configure_logging(config.log_level)
    return build_app(config)


def build_app(config: ServeConfig) -> Any:
    """The app for the bundle: a plain ONNX version, or one run by its entry script; with
    `more_bundles`, one app per version behind the multi-model router."""
    if config.more_bundles:
        from dataclasses import replace

        from mlops_cli.serving.multi import MultiApp

        bundles = [config.bundle, *config.more_bundles]
        return MultiApp([build_app(replace(config, bundle=b, more_bundles=[])) for b in bundles])
    bundle = read_bundle(config.bundle)
    if bundle.entry:
        from mlops_cli.serving.entry_app import EntryApp

        return EntryApp(config, bundle)
    return ServingApp(config)
