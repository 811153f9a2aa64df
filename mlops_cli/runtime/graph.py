"""Facts only the ONNX graph holds, such as a classifier's class labels.

Needs the `onnx` package; without it these return None and callers fall back to class indices
(a serving image may carry onnxruntime alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Operators of the ai.onnx.ml domain that carry the classes, and the attributes that hold them.
_CLASSIFIER_OPS = {
    "ZipMap": ("classlabels_int64s", "classlabels_strings"),
    "TreeEnsembleClassifier": ("classlabels_int64s", "classlabels_strings"),
    "LinearClassifier": ("classlabels_ints", "classlabels_strings"),
    "SVMClassifier": ("classlabels_ints", "classlabels_strings"),
}


def class_labels_from_graph(path: Path) -> list[Any] | None:
    """The class labels recorded in a classifier node of the model at `path`, in output order.

    Returns None when `onnx` is absent, the file cannot be parsed, or no node records classes.
    """
    try:
        import onnx
        from onnx import helper
    except ImportError:
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any parse failure means "not known from the graph"
        return None
    for graph_node in _all_nodes(model.graph):
        names = _CLASSIFIER_OPS.get(graph_node.op_type)
        if not names:
            continue
        for attribute in graph_node.attribute:
            if attribute.name in names:
                values = helper.get_attribute_value(attribute)
                labels = [v.decode() if isinstance(v, bytes) else int(v) for v in values]
                if labels:
                    return labels
    return None


def _all_nodes(graph: Any):
    for graph_node in graph.node:
        yield graph_node
        for attribute in graph_node.attribute:
            if attribute.g is not None and len(attribute.g.node):
                yield from _all_nodes(attribute.g)
