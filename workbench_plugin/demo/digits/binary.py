"""Binary classifier demo: logistic regression on scikit-learn's bundled breast cancer data.

    python binary.py --C 1.0 --max_iter 200

Records the validation scores for the experiment page's ROC and precision-recall curves
(``ht.log_scores``, the positive class "malignant") and a confusion matrix whose misclassified
examples are table rows of a few features. The data ship with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench_plugin import tracking as ht

SPLIT_SEED = 0
SHOWN_FEATURES = ("mean radius", "mean texture", "mean concavity", "worst area")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength (default 1.0)")
    ap.add_argument("--max_iter", type=int, default=200, help="solver iterations (default 200)")
    args = ap.parse_args(argv)
    for name, ok, allowed in (("C", args.C > 0, "> 0"), ("max_iter", args.max_iter >= 1, ">= 1")):
        if not ok:
            ap.error(f"--{name} must be {allowed}, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    data = load_breast_cancer()
    names = np.asarray(data.target_names)[data.target]  # "malignant" / "benign"
    x_train, x_val, y_train, y_val = train_test_split(
        data.data, names, test_size=0.3, random_state=SPLIT_SEED, stratify=names)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter))
    model.fit(x_train, y_train)
    column = list(model.classes_).index("malignant")
    scores = model.predict_proba(x_val)[:, column]
    predicted = model.predict(x_val)
    shown = [list(data.feature_names).index(f) for f in SHOWN_FEATURES]
    rows = [{f: round(float(v), 3) for f, v in zip(SHOWN_FEATURES, sample[shown], strict=True)} for sample in x_val]

    ht.log_scores(y_val, scores, pos_label="malignant")
    ht.log_confusion_matrix(y_val, predicted, labels=["malignant", "benign"], examples=rows)
    val_acc = float(np.mean(predicted == y_val))
    val_auc = float(roc_auc_score(y_val == "malignant", scores))
    ht.summary(val_acc=val_acc, val_auc=val_auc)
    print(f"done: val_acc={val_acc:.4f} val_auc={val_auc:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
