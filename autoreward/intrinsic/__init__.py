"""Intrinsic rewards from labels of the message line (ONI, Motif): models, label sources, the VecEnv wrapper.

    r_train = r_env + c_int * score(message) / N_episode(message)^beta

`labels` defines what the wrapper reads labels from (`LabelSource`), `features` turns a message into hashed
character n-grams, `models` distils labels into a score (retrieval, classification, ranking), `reward` adds the
score to the training reward (`IntrinsicReward`) and puts the message into `info` (`MessageInfo`).
"""

from autoreward.intrinsic.labels import DictLabelSource, Item, LabelSource
from autoreward.intrinsic.models import (
    ClassificationModel,
    IntrinsicModel,
    RankingModel,
    RetrievalModel,
    TextNetConfig,
)
from autoreward.intrinsic.reward import IntrinsicConfig, IntrinsicReward, IntrinsicStats, MessageInfo, make_model

__all__ = [
    "ClassificationModel",
    "DictLabelSource",
    "IntrinsicConfig",
    "IntrinsicModel",
    "IntrinsicReward",
    "IntrinsicStats",
    "Item",
    "LabelSource",
    "MessageInfo",
    "RankingModel",
    "RetrievalModel",
    "TextNetConfig",
    "make_model",
]
