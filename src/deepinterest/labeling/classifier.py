"""The RLDI classifier: calibrated keep-probabilities from pair features, scored on held-out labels."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def make_classifier(kind: str, seed: int):
    if kind == "logistic":
        base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
    elif kind == "boosting":
        base = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, class_weight="balanced", random_state=seed)
    elif kind == "mlp":
        base = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=500, random_state=seed))
    else:
        raise ValueError(f"unknown classifier {kind!r}: logistic, boosting, mlp")
    # Isotonic calibration (3-fold) so a probability of 0.7 means 70% of such interests are kept.
    return CalibratedClassifierCV(base, method="isotonic", cv=3)


def fit_and_score(features: np.ndarray, labels: np.ndarray, kind: str, holdout: float, threshold: float,
                  seed: int) -> tuple[np.ndarray, dict]:
    """Probabilities for every row (from a model refit on all labels) and held-out figures.

    `labels` has nan for unlabelled rows; they are scored, never trained on.
    """
    known = np.flatnonzero(np.isfinite(labels))
    y = labels[known].astype(int)
    # Enough of each kind for a stratified hold-out and 3-fold calibration on what remains.
    least = max(10, int(np.ceil(3 / (1 - holdout))) + 1)
    if min(int(y.sum()), int(len(y) - y.sum())) < least:
        raise ValueError(f"RLDI needs at least {least} labels of each kind (keep and drop); got {int(y.sum())} keep and "
                         f"{int(len(y) - y.sum())} drop. Add label sources or mine more items.")
    train, test = train_test_split(known, test_size=holdout, random_state=seed, stratify=labels[known])
    model = make_classifier(kind, seed).fit(features[train], labels[train].astype(int))
    held = model.predict_proba(features[test])[:, 1]
    truth = labels[test].astype(int)
    report = {
        "labels": int(len(known)), "positive_rate": round(float(y.mean()), 4), "train": int(len(train)),
        "heldout": int(len(test)),
        "auc": round(float(roc_auc_score(truth, held)), 4) if len(set(truth)) > 1 else None,
        "precision": round(float(precision_score(truth, held >= threshold, zero_division=0)), 4),
        "recall": round(float(recall_score(truth, held >= threshold, zero_division=0)), 4),
    }
    final = make_classifier(kind, seed).fit(features[known], y)
    return final.predict_proba(features)[:, 1].astype(np.float32), report
