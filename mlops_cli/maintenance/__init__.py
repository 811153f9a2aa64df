"""Keeping a store tidy: garbage collection of blobs nothing references."""
