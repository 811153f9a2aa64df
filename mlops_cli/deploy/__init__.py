"""Deployments and their revisions: create, switch (health + smoke gate), rollback, status.

`deploy/` reaches processes, containers and clusters only through a `targets.base.Target`,
chosen by name from `targets.TARGETS` and imported only when used.
"""
