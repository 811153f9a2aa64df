"""Images and bundles: platforms, deterministic tarballs, the Docker-free bundle and its verifier."""
