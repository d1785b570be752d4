"""Training with an ONI intrinsic reward: where labels come from, and the wrapper that turns them into reward.

    r_train = c_ext * r_task + total(reward_fn, if any) + c_int * model(message) / N_episode(message)^beta

Labels come from an annotation server: the one at `--annotator URL`, or one this process starts on
127.0.0.1 (a free port, labels kept in `<out>/labels.sqlite` unless told otherwise). Either way the trainer
only talks to it through `AnnotationClient`, which never blocks a training step.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from autoreward.errors import UsageError

MODELS = ("retrieval", "classification", "ranking")
PREFIX = "oni:"


def parse_intrinsic(spec: str) -> str:
    """'oni:classification' -> 'classification'; a clear error for anything else."""
    name = spec.strip().lower()
    if name.startswith(PREFIX):
        name = name[len(PREFIX):]
    if name not in MODELS:
        raise UsageError(f"unknown intrinsic reward {spec!r}: use one of {', '.join(PREFIX + m for m in MODELS)}")
    return name


def default_task_coef(task: str, intrinsic: bool) -> float:
    """c_ext: 1 without an intrinsic reward; with one, ONI's values: 0.1 on score tasks, 10 on goal tasks."""
    if not intrinsic:
        return 1.0
    return 0.1 if "Score" in task else 10.0


def attach_intrinsic(venv: VecEnv, config: Any, out: Path, stack: ExitStack,
                     server: tuple[str, str | None] | None = None) -> tuple[VecEnv, Any]:
    """Wrap `venv` with the intrinsic reward of `config.intrinsic`; servers and clients close with `stack`.

    `server`: (url, token) of an annotation server already chosen (see `annotation_server`; shared with CALM).
    Returns the wrapped env and the client (its stats go to train.json).
    """
    from autoreward.annotate.client import AnnotationClient
    from autoreward.intrinsic.reward import IntrinsicConfig, IntrinsicReward, make_model

    settings = IntrinsicConfig(model=parse_intrinsic(config.intrinsic), coef=config.intrinsic_coef,
                               beta=config.count_exponent, seed=config.seed)
    model = make_model(settings.model, settings)
    url, token = server if server is not None else annotation_server(config, out, stack)
    client = AnnotationClient(url, model.task, token=token, seed=config.seed).start()
    stack.callback(client.close)
    wrapped = IntrinsicReward(venv, model, client, settings, task_coef=config.task_coef)
    return wrapped, client


def annotation_server(config: Any, out: Path, stack: ExitStack) -> tuple[str, str | None]:
    """(url, token) of the annotator: `config.annotator`, or one server started here (for every labelling task)."""
    if config.annotator is not None:
        return config.annotator, config.annotator_token
    return _start_server(config, out, stack), None


def _start_server(config: Any, out: Path, stack: ExitStack) -> str:
    """An annotation server in this process, on a free port of 127.0.0.1; stopped with `stack`."""
    from autoreward.annotate.server import BackgroundServer, ServeConfig

    db = Path(config.labels_db) if config.labels_db else out / "labels.sqlite"
    server = BackgroundServer(ServeConfig(host="127.0.0.1", port=0, llm=config.llm, db=str(db),
                                          api_base=config.llm_api_base))
    url = server.start()
    stack.callback(server.stop)
    return url
