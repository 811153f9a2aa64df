"""Train a small scikit-learn forest and save it with joblib, as an Azure ML job would."""

import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

x, y = load_iris(return_X_y=True)
joblib.dump(RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y), sys.argv[1])
