"""mlops: a local-first MLOps toolchain for the terminal."""

__version__ = "0.1.0"
