"""Custom code around an ONNX graph: the session in between runs on the fast runtime.

preprocess() turns the request's JSON into the graph's inputs (named as in the graph),
postprocess() turns its outputs into the answer; /v2/.../infer skips both (tensors in and out).
"""

import numpy as np

SPECIES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def preprocess(request):
    rows = [[flower[name] for name in FEATURES] for flower in request["flowers"]]
    return {"input": np.asarray(rows, dtype=np.float32)}


def postprocess(outputs, request):
    probabilities = outputs["probabilities"]
    return [
        {"species": SPECIES[int(label)], "confidence": round(float(p.max()), 3)}
        for label, p in zip(outputs["label"], probabilities, strict=True)
    ]
