"""Intrinsic rewards from labels of the message line (ONI, Motif): models, label sources, the VecEnv wrapper.

    r_train = r_env + c_int * score(message) / N_episode(message)^beta

`labels` defines what the wrapper reads labels from (`LabelSource`), `features` turns a message into hashed
character n-grams, `models` distils labels into a score (retrieval, classification, ranking), `reward` adds the
score to the training reward (`IntrinsicReward`), and `messages` puts the message into `info` (`MessageInfo`,
in the env workers: no torch there, so this package imports nothing on its own).
"""
