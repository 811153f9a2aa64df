"""ONNX sessions and table <-> tensor mapping, shared by serving, batch scoring, profile and monitor.

- `session`: onnxruntime sessions with explicit options, cached per process by digest.
- `mapping`: the one import point for the three below (callers import from it).
- `schema`: a model's schema from its stored signature or a session: layout, inputs, outputs.
- `tables`: tables to feeds, every value checked (bad rows reported or raised).
- `outputs`: outputs back to named columns (prediction, proba_<class>, ...).
- `graph`: facts read from the ONNX graph itself (class labels), when `onnx` is installed.
- `predictor`: a session and its schema together: table in, columns out.
- `loader`: a registered version resolved from the store to verified files (the only module
  here that imports the store; serving code resolves models before it starts and never does).

Importing this package imports no heavy library; each module imports numpy/onnxruntime/pyarrow
inside the functions that need them.
"""
