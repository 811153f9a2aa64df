"""The names inside a bundle, shared by the writer (bundle.py) and the verifier (verify.py)."""

FORMAT = "mlops-bundle/1"
MANIFEST = "manifest.json"  # every other member with its sha256 and size, and the version
RECORD = "audit.json"  # the version's registration event, with both hashes
MODEL_DIR = "model"
