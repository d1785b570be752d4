"""Training with an ONI intrinsic reward: where labels come from, and the wrapper that turns them into reward.

    r_train = c_ext * r_task + total(reward_fn, if any) + c_int * model(message) / N_episode(message)^beta

Labels come from an annotation server: the one at `--annotator URL`, or one this process starts on
127.0.0.1 (a free port, labels kept in `<out>/labels.sqlite` unless told otherwise). Either way the trainer
only talks to it through `AnnotationClient`, which never blocks a training step.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from stable_baselines3.common.vec_env import VecEnv

from autoreward.annotate.client import AnnotationClient
from autoreward.annotate.server import BackgroundServer, ServeConfig
from autoreward.errors import UsageError
from autoreward.intrinsic.reward import IntrinsicConfig, IntrinsicReward, make_model
from autoreward.train.config import AnnotatorConfig, TrainConfig

MODELS = ("retrieval", "classification", "ranking")
PREFIX = "oni:"
Server = tuple[str, str | None]  # an annotation server's (url, token)


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


def attach_intrinsic(venv: VecEnv, config: TrainConfig, server: Server,
                     stack: ExitStack) -> tuple[IntrinsicReward, AnnotationClient]:
    """Wrap `venv` with the intrinsic reward of `config.oni`, labelled by the annotation server at `server` (see
    `annotation_server`; shared with CALM); the client closes with `stack`.

    Returns the wrapped env and the client (its stats go to train.json).
    """
    assert config.oni.intrinsic is not None, "attach_intrinsic needs config.oni.intrinsic"
    settings = IntrinsicConfig(model=parse_intrinsic(config.oni.intrinsic), coef=config.oni.coef,
                               beta=config.oni.count_exponent, seed=config.seed)
    model = make_model(settings.model, settings)
    url, token = server
    client = AnnotationClient(url, model.task, token=token, seed=config.seed).start()
    stack.callback(client.close)
    wrapped = IntrinsicReward(venv, model, client, settings, task_coef=task_coef(config))
    return wrapped, client


def annotation_server(annotator: AnnotatorConfig, out: Path, stack: ExitStack) -> Server:
    """(url, token) of the annotator: `annotator.url`, or one server started here (for every labelling task)."""
    if annotator.url is not None:
        return annotator.url, annotator.token
    return _start_server(annotator, out, stack), None


def _start_server(annotator: AnnotatorConfig, out: Path, stack: ExitStack) -> str:
    """An annotation server in this process, on a free port of 127.0.0.1; stopped with `stack`."""
    db = Path(annotator.labels_db) if annotator.labels_db else out / "labels.sqlite"
    server = BackgroundServer(ServeConfig(host="127.0.0.1", port=0, llm=annotator.llm, db=str(db),
                                          api_base=annotator.api_base))
    url = server.start()
    stack.callback(server.stop)
    return url


def task_coef(config: TrainConfig) -> float:
    """c_ext: `config.task_coef`, else its default for the task (`default_task_coef`)."""
    if config.task_coef is not None:
        return float(config.task_coef)
    return default_task_coef(config.task, config.oni.enabled)
