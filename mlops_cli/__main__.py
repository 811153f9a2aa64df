"""`python -m mlops_cli` runs the same CLI as the `mlops` console script."""

from mlops_cli.cli import exit_with, main

if __name__ == "__main__":
    exit_with(main())
