"""Remotes: push and pull of blobs, version records and audit events through a folder or fsspec.

`config` names remotes; `push`, `pull` and `fetch` are the operations; `folder` and
`objectstore` are the two backends behind one small interface (`connection.backend_for`);
`layout` says what a remote holds and where; `trail` moves audit events.
"""
