"""The scoring server: a minimal ASGI app over an ONNX session, run by uvicorn.

Importable with only the serving dependencies (onnxruntime, numpy, uvicorn, pyarrow): it never
imports the store, the CLI or a converter, because the Docker image carries this package and
the model files and nothing else. The command resolves a model reference to a bundle folder
(files + `mlops-serving.json`) first.
"""
