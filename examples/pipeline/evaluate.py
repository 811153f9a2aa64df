"""Score the model on data/test.csv; write metrics.json (a step's out, kept in the store)."""

import json
import pickle

import pandas as pd

test = pd.read_csv("data/test.csv")
with open("model/model.pkl", "rb") as handle:
    model = pickle.load(handle)
accuracy = float((model.predict(test.drop(columns="species")) == test["species"]).mean())
with open("metrics.json", "w") as handle:
    json.dump({"accuracy": round(accuracy, 4), "rows": len(test)}, handle, indent=2)
print(f"accuracy {accuracy:.4f} on {len(test)} rows")  # noqa: T201 - the step's log
