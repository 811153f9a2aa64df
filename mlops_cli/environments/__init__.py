"""Entry scripts and their environments.

At register: the script is parsed (never imported), the environment file is parsed and its
packages resolved to a pinned set (`pip install --dry-run --report`). At serve, batch and
profile time: a virtual environment is built from that pinned set, cached by its digest under
`.mlops/envs/`, and `serving/` runs the script inside it.
"""
