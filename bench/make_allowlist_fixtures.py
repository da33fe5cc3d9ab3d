"""Small files of the kinds the whole-library bench (bench/scan_allowlist_libraries.sh) found
flagged before the allowlist was checked against whole libraries, kept as fixtures so CI knows
they scan clean without installing the libraries.

    /tmp/benchvenv/bin/python bench/make_allowlist_fixtures.py crates/scan/tests/fixtures/real
"""
import argparse
import pickle
import sys

import joblib
import sklearn
import torch
from sklearn.cluster import Birch
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier

out = sys.argv[1]
X, y = load_iris(return_X_y=True)
joblib.dump(HistGradientBoostingClassifier(max_iter=2, max_depth=2).fit(X, y), f"{out}/sklearn_hist_gb.joblib")
with open(f"{out}/sklearn_birch.pkl", "wb") as f:
    pickle.dump(Birch(n_clusters=2).fit(X[:30]), f)
with open(f"{out}/sklearn_kdtree_knn.pkl", "wb") as f:
    pickle.dump(KNeighborsClassifier(algorithm="kd_tree").fit(X[:30], y[:30]), f)
with open(f"{out}/sklearn_select_k_best.pkl", "wb") as f:
    pickle.dump(SelectKBest(k=2).fit(X, y), f)
with open(f"{out}/sklearn_grid_search.pkl", "wb") as f:
    pickle.dump(GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.5, 1.0]}, cv=2).fit(X, y), f)
torch.save({"args": argparse.Namespace(lr=0.1, arch="tiny", betas=(0.9, 0.99)),
            "model": {"w": torch.zeros(2, 2)}}, f"{out}/torch_namespace_checkpoint.pt")
print("scikit-learn", sklearn.__version__, "torch", torch.__version__)
