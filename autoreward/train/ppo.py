"""PPO training on a task with an optional reward function (stable-baselines3), CleanRL-style config.

    r_train = task_coef * r_task + total(reward_fn)        (see autoreward.train.shaping)
            [+ c_int * r_intrinsic(message) / N(message)^beta, with --intrinsic: see autoreward.train.oni]
            [+ calm_coef per subgoal first achieved in the episode, with --calm: see autoreward.calm.reward]

Environments run in worker subprocesses (autoreward.train.vec), which load the reward code themselves. The run writes
`metrics.jsonl` (one record per rollout), `policy.zip` and `train.json` to the output folder. A reward that
fails stops training with the reason recorded; a worker that stops responding is killed by a watchdog.

`train()` runs five stages, each a function of its own: `resolve` (check the config, fill in its defaults, load
what it names), `build_envs` and `build_model` (autoreward.train.build), `run` (learn; a failure becomes the stop
reason), `record` (policy.zip, train.json, the TrainResult). Process-wide torch settings are the caller's, once
per process that trains: `configure_torch`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nle
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from autoreward import __version__
from autoreward.calm.subgoals import Subgoal
from autoreward.env.registry import card_for, source_of, use_card
from autoreward.errors import RewardCodeError, UsageError
from autoreward.io import write_json_atomic
from autoreward.reward.static import check_static
from autoreward.train.build import TENSORBOARD_DIR, TrainingEnvs, Watchdog, build_envs, build_model
from autoreward.train.calm_setup import calm_coef, resolve_subgoals
from autoreward.train.config import TrainConfig
from autoreward.train.metrics import RolloutMetrics, scalars
from autoreward.train.oni import parse_intrinsic, task_coef
from autoreward.train.policy import require_nethack
from autoreward.train.vec import WorkerError

Progress = Callable[[int, int, dict[str, Any] | None], None]  # (steps done, steps in all, the rollout's record)

#: Threads for torch in a process that trains: the env workers need the other cores, and this small network does
#: not gain from more (on a 2-core machine 2 threads ran training at a quarter of the speed).
TORCH_THREADS = 1


def configure_torch(threads: int = TORCH_THREADS) -> None:
    """Process-wide torch settings for training: call it where a process starts training (the CLI's train command,
    the synth executor's job, the suite's seeds); `train()` leaves them alone. threads=0 keeps torch's own."""
    if threads:
        torch.set_num_threads(threads)
    torch.distributions.Distribution.set_default_validate_args(False)  # checks cost time at batch size 2


@dataclass
class TrainResult:
    task: str
    steps: int
    seconds: float
    sps: float
    stopped_reason: str | None  # None: finished the budget
    device: str
    out: str
    policy: str | None
    metrics: str
    last_rollout: dict[str, Any] = field(default_factory=dict)
    # what the annotation clients did: ONI's at the top level, CALM's under "calm" (with its wrapper's stats)
    annotation: dict[str, Any] | None = None
    isolation: list[str] = field(default_factory=list)  # the walls around reward code that held (worker 0's)

    @property
    def ok(self) -> bool:
        return self.stopped_reason is None


def train(config: TrainConfig, progress: Progress | None = None, callbacks: Sequence[BaseCallback] = ()) -> TrainResult:
    """Train PPO as configured; never raises for a failing reward (see TrainResult.stopped_reason). `callbacks`
    (SB3's) run after the metrics' own: checkpoints, benchmarks' clocks."""
    resolved = resolve(config)
    metrics_path = prepare_out(resolved.out)
    envs = build_envs(resolved.config, resolved.source, resolved.subgoals, resolved.out)
    try:
        model = build_model(resolved.config, envs.venv, resolved.device)
    except BaseException:
        envs.close()
        raise
    outcome = run(model, envs, resolved.config, metrics_path, progress, callbacks)
    result = record(resolved, model, envs, outcome, metrics_path)
    if outcome.interrupted:  # what was learned is saved; now the caller sees the interrupt
        raise KeyboardInterrupt
    return result


# ----- resolve ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """A checked run: the config with its defaults filled in (as train.json keeps it), and what it names, loaded."""

    config: TrainConfig  # task_coef set; calm.coef set when CALM is on
    source: str | None  # the reward file's code
    subgoals: list[Subgoal] | None  # CALM's; None without CALM
    device: str  # cpu | cuda
    out: Path


def resolve(config: TrainConfig) -> Resolved:
    """Check `config` before anything starts (UsageError, RewardCodeError) and fill in the defaults that depend on
    other settings: the task reward's weight (ONI's with an intrinsic reward), CALM's bonus (a share of it)."""
    use_card(config.card)  # a plugin card or custom level, as recorded: served in this process from here on
    card = card_for(config.task)  # unknown task: UsageError before anything starts
    if config.card is None and source_of(config.task) is not None:
        config = config.replace(card=source_of(config.task))  # recorded, for the env workers and train.json
    if config.oni.enabled:
        require_nethack(card, "ONI (--intrinsic)")
    if config.calm.enabled:
        require_nethack(card, "CALM (--calm)")
    if config.oni.intrinsic is not None:
        parse_intrinsic(config.oni.intrinsic)
    if config.task_coef is None:
        config = config.replace(task_coef=task_coef(config))
    if config.calm.enabled and config.calm.coef is None:
        config = config.replace(calm={"coef": calm_coef(config)})
    source = config.reward_source()
    if source is not None:  # contract errors surface here; the code itself runs only in the walled workers
        errors = [str(issue) for issue in check_static(source, card.state_api) if issue.severity == "error"]
        if errors:
            name = Path(config.reward or "reward.py").name
            raise RewardCodeError(f"{name} breaks the reward contract:\n  " + "\n  ".join(errors))
    subgoals = resolve_subgoals(config) if config.calm.enabled else None
    return Resolved(config, source, subgoals, resolve_device(config.device), Path(config.out))


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device (is a CUDA build installed?)")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def prepare_out(out: Path) -> Path:
    """Create the output folder; the path of its metrics.jsonl, emptied, and no earlier TensorBoard events (a
    run's records are its own)."""
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    metrics_path.unlink(missing_ok=True)
    shutil.rmtree(out / TENSORBOARD_DIR, ignore_errors=True)
    return metrics_path


# ----- run ----------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """How learning went: why it stopped (None: the budget is done), for how long, the last rollout's record."""

    stopped: str | None
    interrupted: bool  # by Ctrl-C: recorded, then raised again
    seconds: float
    last_rollout: dict[str, Any]


class _TrainingCallback(BaseCallback):
    def __init__(self, metrics: RolloutMetrics, watchdog: Watchdog | None, total: int,
                 progress: Progress | None) -> None:
        super().__init__()
        self.metrics, self.watchdog, self.total, self.progress = metrics, watchdog, total, progress
        self.last: dict[str, Any] = {}

    def _on_rollout_start(self) -> None:
        if self.watchdog:
            self.watchdog.last_progress = time.monotonic()
            self.watchdog.active = True

    def _on_step(self) -> bool:
        if self.watchdog:
            self.watchdog.last_progress = time.monotonic()
        self.metrics.add_step(self.locals["infos"], self.locals["dones"])
        return self.metrics.error is None

    def _on_rollout_end(self) -> None:
        if self.watchdog:
            self.watchdog.active = False
        values = self.model.logger.name_to_value
        extra = {key.split("/")[-1]: round(float(v), 6) for key, v in values.items() if key.startswith("train/")}
        self.last = self.metrics.summary(self.num_timesteps, extra or None)
        if self.model.tensorboard_log is not None:  # SB3 writes them with its own, at the end of this rollout
            for tag, value in scalars(self.last).items():
                self.model.logger.record(tag, value)
        if self.progress:
            self.progress(self.num_timesteps, self.total, self.last)


def run(model: PPO, envs: TrainingEnvs, config: TrainConfig, metrics_path: Path,
        progress: Progress | None = None, callbacks: Sequence[BaseCallback] = ()) -> Outcome:
    """Learn for `config.steps`, one metrics record per rollout; a failing reward or env worker, or Ctrl-C, stops
    learning with the reason. Closes `envs` in every case. `callbacks` run after the metrics' own (benchmarks)."""
    metrics = RolloutMetrics(config.envs, metrics_path)
    callback = _TrainingCallback(metrics, envs.watchdog, config.steps, progress)
    stopped: str | None = None
    interrupted = False
    start = time.perf_counter()
    try:
        model.learn(total_timesteps=config.steps, callback=[callback, *callbacks], progress_bar=False)
        if metrics.error:
            stopped = f"reward function failed: {metrics.error}"
    except (WorkerError, EOFError, BrokenPipeError, ConnectionResetError) as exc:
        stopped = stopped_reason(exc, envs.watchdog, config.workers.step_timeout_s)
    except KeyboardInterrupt:  # save what was learned, then let the caller see the interrupt
        stopped, interrupted = "interrupted", True
    finally:
        envs.close()
    seconds = time.perf_counter() - start
    if stopped:  # the unfinished rollout's record says why training stopped
        callback.last = metrics.summary(model.num_timesteps, {"stopped": stopped})
    return Outcome(stopped, interrupted, seconds, callback.last)


def stopped_reason(exc: BaseException, watchdog: Watchdog | None, timeout_s: float) -> str:
    """Why learning stopped when an env worker failed (`exc`): hung and killed, failed, or died."""
    if watchdog is not None and watchdog.fired:
        return f"an environment worker stopped responding and was killed after {timeout_s:g} s (a reward call hung?)"
    if isinstance(exc, WorkerError):
        return str(exc)
    return f"an environment worker died ({type(exc).__name__}): the reward may have crashed it"


# ----- record -------------------------------------------------------------------------------------------------
def record(resolved: Resolved, model: PPO, envs: TrainingEnvs, outcome: Outcome, metrics_path: Path) -> TrainResult:
    """Save the policy and train.json ({"config", "result", "versions"}); the run's TrainResult."""
    out = resolved.out
    policy_path = out / "policy.zip"
    model.save(policy_path)
    steps = int(model.num_timesteps)
    result = TrainResult(
        task=resolved.config.task, steps=steps, seconds=round(outcome.seconds, 2),
        sps=round(steps / max(outcome.seconds, 1e-9), 1), stopped_reason=outcome.stopped, device=resolved.device,
        out=str(out), policy=str(policy_path), metrics=str(metrics_path), last_rollout=outcome.last_rollout,
        annotation=envs.annotation(), isolation=envs.isolation,
    )
    write_json_atomic(out / "train.json", {"config": dataclasses.asdict(resolved.config),
                                           "result": dataclasses.asdict(result), "versions": versions()})
    return result


def versions() -> dict[str, str]:
    """The versions of what a result depends on (saved with it)."""
    return {"autoreward": __version__, "torch": torch.__version__, "stable_baselines3": stable_baselines3.__version__,
            "nle": getattr(nle, "__version__", "?"), "numpy": np.__version__}
