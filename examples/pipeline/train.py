"""Train a logistic regression on data/train.csv and pickle it to model/model.pkl."""

import pickle
from pathlib import Path

import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
train = pd.read_csv("data/train.csv")
model = LogisticRegression(max_iter=params["max_iter"]).fit(train.drop(columns="species"), train["species"])
Path("model").mkdir(exist_ok=True)
with open("model/model.pkl", "wb") as handle:
    pickle.dump(model, handle)
