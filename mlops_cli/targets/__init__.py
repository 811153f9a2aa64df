"""Deployment targets and the runners for external tools: the local server, Docker images."""
