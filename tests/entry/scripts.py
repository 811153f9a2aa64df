"""Entry scripts the entry tests register: Azure form, hooks form, a failing init."""

AZURE = """
import json, os, pickle
from features import scale  # from --code

def init():
    global models
    folder = os.path.join(os.environ["AZUREML_MODEL_DIR"], "ensemble")
    models = {}
    for name in ("a", "b"):
        with open(os.path.join(folder, name + ".pkl"), "rb") as f:
            models[name] = pickle.load(f)

def run(raw_data):
    request = json.loads(raw_data)
    if request.get("fail"):
        raise ValueError("asked to fail")
    if request.get("set"):
        return {1, 2}
    if request.get("env"):
        return {k: os.environ[k] for k in ("AZUREML_MODEL_DIR", "MLOPS_MODEL_DIR")}
    return [scale(x) * models["a"] + models["b"] for x in request["data"]]
"""

FEATURES = "def scale(x):\n    return 10 * x\n"

HOOKS = """
import numpy as np

def preprocess(request):
    return {"X": np.asarray(request["rows"], dtype=np.float32)}

def postprocess(outputs, request):
    return {"labels": outputs["label"].tolist(), "rows": len(request["rows"])}
"""

BROKEN_INIT = """
def init():
    raise RuntimeError("the model file is missing")

def run(raw_data):
    return raw_data
"""

SCHEMA = """
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

def init():
    pass

@input_schema("data", StandardPythonParameterType([1.0, 2.0]))
@output_schema(StandardPythonParameterType([2.0, 4.0]))
def run(data):
    return [2 * x for x in data]
"""

ECHO = """
import sys

def init():
    pass

def run(raw_data):
    return {"echo": raw_data, "python": sys.executable}
"""


def azure_ensemble(project):
    """`az`: two pickles in a folder and the AZURE script (with its --code helper) registered."""
    import pickle

    from tests.deploy_helpers import mlops

    ensemble = project / "ensemble"
    ensemble.mkdir()
    (ensemble / "a.pkl").write_bytes(pickle.dumps(2))
    (ensemble / "b.pkl").write_bytes(pickle.dumps(1))
    code = project / "code"
    code.mkdir()
    (code / "features.py").write_text(FEATURES)
    (code / "score.py").write_text(AZURE)
    mlops(project, "register", ensemble, "--name", "az", "--entry", code / "score.py", "--code", code)
    return ensemble


def register_script(project, name, script, requirements=None):
    """`name`: a placeholder model file with `script` as its entry, and pip requirements if given."""
    from tests.deploy_helpers import mlops

    (project / "model.bin").write_bytes(b"weights")
    (project / f"{name}.py").write_text(script)
    args = ["register", "model.bin", "--name", name, "--entry", f"{name}.py"]
    if requirements is not None:
        (project / f"{name}-requirements.txt").write_text(requirements)
        args += ["--requirements", f"{name}-requirements.txt"]
    mlops(project, *args)
