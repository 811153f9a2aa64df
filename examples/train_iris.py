"""Train a small scikit-learn model on a dataset that ships with scikit-learn (no download)."""

import pickle
import sys
import warnings

from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

# A few iterations make a deliberately rough first model (so a second, converged one differs
# from it and a deployment switch changes the answers); the solver's complaint is expected.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

max_iter = int(sys.argv[2]) if len(sys.argv) > 2 else 200
features, labels = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=max_iter).fit(features, labels)
with open(sys.argv[1], "wb") as handle:
    pickle.dump(model, handle)
features.assign(species=labels).to_csv("iris.csv", index=False)
