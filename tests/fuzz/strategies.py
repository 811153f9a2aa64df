"""Shared Hypothesis set-up for the fuzz tests: budgets and mutation strategies.

Every property runs with a fixed seed (`derandomize=True`) and a bounded number of examples, so
CI is repeatable and takes about a minute for all of them. `MLOPS_FUZZ_EXAMPLES=N` gives every
property N examples for a longer hunt. Inputs start from valid shapes (a request, a config file,
an export) and are then mutated, so most of them pass the first checks and reach deep.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES = int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "0") or 0)


def budget(examples: int) -> settings:
    """A fixed-seed budget of `examples` (or MLOPS_FUZZ_EXAMPLES) examples for one property."""
    return settings(
        max_examples=FUZZ_EXAMPLES or examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# Values that sit at the edges of the types a decoder expects.
EDGE_NUMBERS = [0, -1, 1, 0.5, -0.0, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 1e39, -1e39, 1e308]
KEYS = [
    "name", "shape", "datatype", "data", "parameters", "binary_data_size", "binary_data",
    "binary_data_output", "inputs", "outputs", "id", "columns", "index", "dataframe_split",
    "dataframe_records", "instances", "params", "hooks", "events", "url", "command", "timeout",
    "retries", "backoff", "secret_env", "seq", "hash", "prev_hash", "details", "git", "files",
    "digest", "version", "blob", "path", "size", "mode", "format", "signature",
]  # fmt: skip
DATATYPES = ["FP32", "FP64", "FP16", "INT64", "INT8", "UINT8", "UINT64", "BOOL", "BYTES", "fp32", ""]

json_leaves = (
    st.none()
    | st.booleans()
    | st.sampled_from(EDGE_NUMBERS)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(KEYS + DATATYPES)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """The path of every node of a JSON value (root first)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:8]):
            found += _paths(item, (*prefix, index))
    return found


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _tweak(draw: st.DrawFn, node: Any) -> Any:
    """A small, type-aware change that keeps most of the node's shape."""
    if isinstance(node, bool):
        return draw(st.sampled_from([not node, 0, 1, "true", None]))
    if isinstance(node, (int, float)):
        return draw(st.sampled_from([*EDGE_NUMBERS, str(node), [node], None, True]))
    if isinstance(node, str):
        return draw(st.sampled_from([*DATATYPES, node + "x", node.upper(), "", [node], 0, None]))
    if isinstance(node, list):
        choice = draw(st.integers(0, 4))
        if choice == 0 or not node:
            return [*node, draw(json_values)]
        if choice == 1:
            return node[:-1]
        if choice == 2:
            return [*node, node[0]]
        if choice == 3:
            return node[0]
        return {"0": node}
    if isinstance(node, dict):
        node = dict(node)
        if node and draw(st.booleans()):
            node.pop(draw(st.sampled_from(sorted(node, key=str))))
        else:
            node[draw(st.sampled_from(KEYS))] = draw(json_values)
        return node
    return draw(json_values)


@st.composite
def mutated(draw: st.DrawFn, valid: Any, max_mutations: int = 3) -> Any:
    """`valid` (a JSON value) after 0..`max_mutations` mutations: a node replaced by any value,
    tweaked at the edges of its type, or removed."""
    value = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, max_mutations))):
        path = draw(st.sampled_from(_paths(value)))
        node = _get(value, path)
        how = draw(st.sampled_from(["tweak", "tweak", "replace", "remove"]))
        new = draw(json_values) if how == "replace" else _tweak(draw, node)
        if not path:
            value = new
            continue
        parent = _get(value, path[:-1])
        if how == "remove":
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    return value


@st.composite
def mutated_bytes(draw: st.DrawFn, valid: bytes, alphabet: bytes = b",\"\n\r\x00;:-[]{}#&*!'\\\t ") -> bytes:
    """`valid` bytes with up to 3 edits: a truncation, a splice of nasty bytes, a deletion, a flip."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["truncate", "insert", "insert", "delete", "flip", "random"]))
        at = draw(st.integers(0, len(data)))
        if how == "truncate":
            del data[at:]
        elif how == "insert":
            piece = draw(st.lists(st.sampled_from(list(alphabet)), min_size=1, max_size=4))
            data[at:at] = bytes(piece)
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif how == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "random":
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
    return bytes(data)
