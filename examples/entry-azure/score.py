"""An Azure ML entry script, unchanged: init() loads the model, run() answers a request."""

import json
import logging
import os

import joblib
import numpy as np


def init():
    global model
    # Azure ML puts the registered model under AZUREML_MODEL_DIR; `mlops serve` does the same.
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.joblib"))
    logging.info("model loaded")


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    return model.predict(data).tolist()
