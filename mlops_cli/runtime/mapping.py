"""From tables to model inputs and from model outputs back to columns: the one import point.

The work is split by job: `schema` (what a model takes and gives), `tables` (rows in, checked
value by value, to feeds) and `outputs` (outputs back to named columns). Callers import from
here, so the split changes no import of theirs.
"""

from mlops_cli.runtime.outputs import (
    from_outputs,
    output_columns,
)
from mlops_cli.runtime.schema import (
    COLUMN_KINDS,
    LABEL_OUTPUTS,
    NUMPY_TYPES,
    PREDICTION,
    PROBA_OUTPUTS,
    InputError,
    ModelSchema,
    TensorSpec,
    build_schema,
    schema_from_session,
    schema_from_signature,
)
from mlops_cli.runtime.tables import (
    Converted,
    check_columns,
    convert,
    feeds_from_arrays,
    to_arrow,
    to_feeds,
)

# The names these tables had before the split, still imported by serving/model.py.
_KINDS = COLUMN_KINDS
_NUMPY = NUMPY_TYPES

__all__ = [
    "COLUMN_KINDS",
    "NUMPY_TYPES",
    "build_schema",
    "check_columns",
    "convert",
    "Converted",
    "feeds_from_arrays",
    "from_outputs",
    "InputError",
    "LABEL_OUTPUTS",
    "ModelSchema",
    "output_columns",
    "PREDICTION",
    "PROBA_OUTPUTS",
    "schema_from_session",
    "schema_from_signature",
    "TensorSpec",
    "to_arrow",
    "to_feeds",
]
