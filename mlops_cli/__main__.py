"""`python -m mlops_cli` runs the same CLI as the `mlops` console script."""

from mlops_cli.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
