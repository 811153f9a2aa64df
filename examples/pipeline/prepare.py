"""Split scikit-learn's bundled iris data (no download) into data/train.csv and data/test.csv."""

from pathlib import Path

import yaml
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

params = yaml.safe_load(Path("params.yaml").read_text())["prepare"]
features, labels = load_iris(return_X_y=True, as_frame=True)
table = features.assign(species=labels)
train, test = train_test_split(table, test_size=params["test_fraction"], random_state=params["seed"])
Path("data").mkdir(exist_ok=True)
train.to_csv("data/train.csv", index=False)
test.to_csv("data/test.csv", index=False)
