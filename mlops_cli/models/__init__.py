"""Model registry operations: registering files and folders, and managing versions."""
