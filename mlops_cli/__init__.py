"""mlops: a local-first MLOps toolchain for the terminal."""

import os

__version__ = "0.1.0"

# onnxruntime 1.29+ on Linux collects telemetry by default: it writes a device id and an event
# database under ~/.cache/Microsoft, a `.ses` file in the temp folder, and uploads events to
# Microsoft. A local-first tool (and its offline images) must not phone home or leave files
# nobody asked for. The variable is read when onnxruntime's native module loads, so it is set
# here, before any of this package's processes (the CLI, servers, workers, entry-script children,
# which inherit it) can import onnxruntime. A user who sets it to 0 opts back in.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
