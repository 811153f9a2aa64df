"""Audit events to hooks: config.yaml routing, the outbox, webhook signing and delivery."""
