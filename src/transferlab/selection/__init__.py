"""Pick the backbone before training: transferability estimators and a backbone ranking.

`rank_backbones(data, ["efficientnet_lite0", "efficientnet_lite0@random", "runs/fit-X"])`
scores each candidate from one pass of frozen features (LogME, LEEP, k-NN and linear-probe
cross-validated accuracy) so the user fine-tunes only the most promising one.
"""

from transferlab.selection.estimators import (
    Evidence,
    knn_accuracy,
    leep,
    linear_probe_accuracy,
    logme,
    logme_evidence,
)
from transferlab.selection.ranking import (
    DEFAULT_ESTIMATORS,
    RankingReport,
    RankRow,
    choose_backbone,
    default_candidates,
    rank_backbones,
)

__all__ = ["rank_backbones", "choose_backbone", "default_candidates", "RankingReport", "RankRow",
           "DEFAULT_ESTIMATORS", "logme", "logme_evidence", "Evidence", "leep", "knn_accuracy",
           "linear_probe_accuracy"]
