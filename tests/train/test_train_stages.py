"""The stages of training one by one (autoreward.train.ppo, .build, .config): resolve fills in the defaults and
checks before anything starts, build_envs stacks the wrappers in their order, build_model, run's stop reasons,
record's train.json; the CLI's defaults are the config's; the info keys are those of autoreward.env.info."""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from autoreward.env import info as keys
from autoreward.errors import RewardCodeError, UsageError
from autoreward.train import build
from autoreward.train.config import (
    SPIN_S,
    AnnotatorConfig,
    CalmConfig,
    NetworkConfig,
    OniConfig,
    PPOConfig,
    TrainConfig,
    WorkerConfig,
)
from autoreward.train.ppo import Outcome, configure_torch, resolve, run, stopped_reason, train
from autoreward.train.shaping import ShapedReward
from autoreward.train.vec import WorkerError, WorkerVecEnv
from tests.common import EXAMPLE as EXAMPLE_PATH

TASK = "MiniHack-KeyRoom-S5-v0"
EXAMPLE = str(EXAMPLE_PATH)
IN_PROCESS = WorkerConfig(count=0)
SMALL = PPOConfig(n_steps=32, batch_size=32, n_epochs=1)


# ----- config and CLI -----------------------------------------------------------------------------------------
def test_cli_train_defaults_are_the_config_defaults(tmp_path, monkeypatch):
    from autoreward.cli.parser import build_parser
    from autoreward.cli.train import _train_config

    monkeypatch.delenv("AUTOREWARD_ANNOTATE_TOKEN", raising=False)
    args = build_parser().parse_args(["train", "--task", TASK, "--reward", "none", "--out", str(tmp_path)])
    assert _train_config(args, None) == TrainConfig(task=TASK, out=str(tmp_path))


def test_cli_train_help_shows_the_config_defaults(capsys):
    from autoreward.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for default in (f"default {TrainConfig.steps}", f"(default {TrainConfig.envs})",
                    f"(default {WorkerConfig.count})", f"(default {WorkerConfig.reward_memory_mb})",
                    f"(default {OniConfig.coef}, ONI)", f"(default {OniConfig.count_exponent}, ONI)",
                    f"(default {AnnotatorConfig.llm})"):
        assert default in text


def test_cli_options_land_in_their_sections(tmp_path, monkeypatch):
    from autoreward.cli.parser import build_parser
    from autoreward.cli.train import _train_config

    monkeypatch.setenv("AUTOREWARD_ANNOTATE_TOKEN", "from-env")
    args = build_parser().parse_args(["train", "--task", TASK, "--intrinsic", "oni:ranking", "--intrinsic-coef", "0.2",
                                 "--count-exponent", "2", "--calm", "--subgoals", "a;b", "--calm-coef", "0.3",
                                 "--annotator", "http://h:1", "--llm", "m", "--env-workers", "2",
                                 "--reward-memory-mb", "64", "--out", str(tmp_path)])
    config = _train_config(args, None)
    assert config.oni == OniConfig("oni:ranking", coef=0.2, count_exponent=2.0)
    assert config.calm == CalmConfig(enabled=True, subgoals="a;b", coef=0.3)
    assert config.annotator == AnnotatorConfig(url="http://h:1", token="from-env", llm="m")
    assert config.workers == WorkerConfig(count=2, reward_memory_mb=64)


def test_oni_defaults_are_the_intrinsic_rewards():
    from autoreward.intrinsic.reward import IntrinsicConfig

    assert (OniConfig.coef, OniConfig.count_exponent) == (IntrinsicConfig.coef, IntrinsicConfig.beta)


def test_config_round_trips_through_train_json_form():
    config = TrainConfig(task=TASK, ppo=PPOConfig(n_epochs=2), network=NetworkConfig(pi_layers=[16]),
                         oni=OniConfig("oni:retrieval"), calm=CalmConfig(enabled=True, coef=0.1))
    assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(config)))) == config
    assert config.replace(steps=5, calm={"coef": 0.2}).calm == CalmConfig(enabled=True, coef=0.2)
    assert config.calm.coef == 0.1  # replace made a copy


def test_configure_torch_sets_the_process_wide_settings():
    try:
        configure_torch(2)
        assert torch.get_num_threads() == 2
        assert torch.distributions.Distribution._validate_args is False
    finally:
        configure_torch()
    assert torch.get_num_threads() == 1  # the default: one thread, the env workers take the other cores


# ----- resolve ------------------------------------------------------------------------------------------------
def test_resolve_fills_in_the_defaults_that_depend_on_other_settings(tmp_path):
    plain = resolve(TrainConfig(task=TASK, out=str(tmp_path / "out"), device="cpu"))
    assert plain.config.task_coef == 1.0 and plain.source is None and plain.subgoals is None
    assert plain.device == "cpu" and plain.out == tmp_path / "out"
    assert not (tmp_path / "out").exists()  # resolving starts nothing

    oni = resolve(TrainConfig(task=TASK, oni=OniConfig("oni:retrieval"), calm=CalmConfig(enabled=True)))
    assert oni.config.task_coef == 10.0  # ONI's c_ext on a goal task
    assert oni.config.calm.coef == pytest.approx(5.0)  # CALM's share of it
    assert [s.name for s in oni.subgoals] == ["pick_up_key", "open_door", "reach_stairs"]  # offline decomposition

    given = resolve(TrainConfig(task=TASK, reward=EXAMPLE, task_coef=2.0,
                                calm=CalmConfig(enabled=True, subgoals="pick up the key", coef=0.7)))
    assert given.config.task_coef == 2.0 and given.config.calm.coef == 0.7
    assert [s.name for s in given.subgoals] == ["pick_up_key"]
    assert given.source == Path(EXAMPLE).read_text()


def test_resolve_refuses_bad_configs_before_anything_starts(tmp_path):
    out = str(tmp_path / "out")
    with pytest.raises(UsageError, match="unknown task"):
        resolve(TrainConfig(task="MiniHack-Nope-v0", out=out))
    with pytest.raises(UsageError, match="oni:retrieval"):
        resolve(TrainConfig(task=TASK, oni=OniConfig("oni:telepathy"), out=out))
    with pytest.raises(UsageError, match="not found"):
        resolve(TrainConfig(task=TASK, reward=str(tmp_path / "missing.py"), out=out))
    broken = tmp_path / "broken.py"
    broken.write_text("import os\n")
    with pytest.raises(RewardCodeError, match="import os"):
        resolve(TrainConfig(task=TASK, reward=str(broken), out=out))
    with pytest.raises(UsageError, match="unknown device"):
        resolve(TrainConfig(task=TASK, device="tpu", out=out))
    assert not (tmp_path / "out").exists()


def test_env_workers():
    assert build.env_workers(TrainConfig(task=TASK, envs=4, workers=WorkerConfig(count=0))) == 0
    assert build.env_workers(TrainConfig(task=TASK, envs=4, workers=WorkerConfig(count=9))) == 4
    cores = os.cpu_count() or 1
    assert build.env_workers(TrainConfig(task=TASK, envs=4)) == 1  # fewer than 4 envs per worker does not pay
    assert build.env_workers(TrainConfig(task=TASK, envs=32)) == max(1, min(cores, 8))
    assert build.env_workers(TrainConfig(task=TASK, envs=32, workers=WorkerConfig(cores=3))) == 3
    assert build.env_workers(TrainConfig(task=TASK, envs=32, workers=WorkerConfig(cores=16))) == 8
    with pytest.raises(UsageError, match="env worker"):
        build.env_workers(TrainConfig(task=TASK, reward=EXAMPLE, workers=WorkerConfig(count=0)))


def test_spin_only_when_every_process_has_a_core():
    def spin(cores, workers, spin_s=-1.0):
        return build.spin_seconds(TrainConfig(task=TASK, workers=WorkerConfig(cores=cores, spin_s=spin_s)), workers)

    assert spin(cores=16, workers=8) == SPIN_S
    assert spin(cores=2, workers=2) == 0.0  # the trainer and two workers on two cores: a poller steals the core
    assert spin(cores=2, workers=1) == SPIN_S
    assert spin(cores=1, workers=1, spin_s=0.01) == 0.01  # given: kept


# ----- build --------------------------------------------------------------------------------------------------
def _chain(env) -> list[str]:
    """The wrappers of one gym env, outermost first."""
    names = []
    while hasattr(env, "env"):
        names.append(type(env).__name__)
        env = env.env
    return names


def test_build_envs_stacks_every_wrapper_in_its_order(tmp_path):
    resolved = resolve(TrainConfig(task=TASK, envs=2, workers=IN_PROCESS, oni=OniConfig("oni:retrieval"),
                                   calm=CalmConfig(enabled=True), out=str(tmp_path)))
    envs = build.build_envs(resolved.config, None, resolved.subgoals, tmp_path)
    try:
        venvs, venv = [], envs.venv
        while hasattr(venv, "venv"):
            venvs.append(type(venv).__name__)
            venv = venv.venv
        assert venvs == ["CalmReward", "IntrinsicReward"] and isinstance(venv, DummyVecEnv)
        assert envs.calm is envs.venv and envs.oni_client is not None and envs.calm_client is not None
        assert envs.oni_client.url == envs.calm_client.url  # one annotation server for both
        assert envs.watchdog is None and envs.isolation == [build.NO_WORKERS]
        assert _chain(venv.envs[0])[:4] == ["PolicyObservation", "TransitionInfo", "MessageInfo", "TaskRewardInfo"]
        assert envs.annotation()["calm"]["subgoals"] == ["pick_up_key", "open_door", "reach_stairs"]
    finally:
        envs.close()
    assert (tmp_path / "labels.sqlite").is_file()  # the server started here kept its store in the output folder


def test_build_envs_runs_reward_code_in_workers_under_a_watchdog(tmp_path):
    config = resolve(TrainConfig(task=TASK, reward=EXAMPLE, envs=2, workers=WorkerConfig(count=1))).config
    envs = build.build_envs(config, Path(EXAMPLE).read_text(), None, tmp_path)
    try:
        assert isinstance(envs.venv, WorkerVecEnv) and envs.watchdog is not None
        assert envs.venv.env_is_wrapped(ShapedReward) == [True, True]
        assert any("audit hook" in wall for wall in envs.isolation) and envs.annotation() is None
    finally:
        envs.close()
    assert envs.venv.closed and all(p.poll() is not None for p in envs.venv.processes)


def test_build_model_fits_the_rollout_to_a_small_budget(tmp_path):
    config = TrainConfig(task=TASK, steps=64, envs=2, workers=IN_PROCESS, ppo=PPOConfig(n_steps=128, batch_size=256),
                         network=NetworkConfig(pi_layers=[16], vf_layers=[8]))
    envs = build.build_envs(resolve(config).config, None, None, tmp_path)
    try:
        model = build.build_model(config, envs.venv, "cpu")
        assert (model.n_steps, model.batch_size, model.n_epochs) == (32, 64, PPOConfig.n_epochs)
        assert model.policy.net_arch == {"pi": [16], "vf": [8]}
        assert type(model.policy.features_extractor).__name__ == "NetHackExtractor"
    finally:
        envs.close()


# ----- run and record -----------------------------------------------------------------------------------------
class _Watchdog:
    def __init__(self, fired: bool) -> None:
        self.fired, self.stopped = fired, False

    def stop(self) -> None:
        self.stopped = True


def test_stopped_reason_names_what_happened_to_the_worker():
    assert "killed after 2 s" in stopped_reason(EOFError(), _Watchdog(fired=True), 2.0)  # type: ignore[arg-type]
    assert stopped_reason(WorkerError("out of memory"), _Watchdog(fired=False), 2.0) == "out of memory"  # type: ignore[arg-type]
    assert "worker died (BrokenPipeError)" in stopped_reason(BrokenPipeError(), None, 2.0)


class _FailingModel:
    num_timesteps = 96

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def learn(self, **kwargs) -> None:
        raise self.error


@pytest.mark.parametrize(("error", "stopped", "interrupted"), [
    (WorkerError("the env worker failed: boom"), "the env worker failed: boom", False),
    (ConnectionResetError(), "an environment worker died (ConnectionResetError)", False),
    (KeyboardInterrupt(), "interrupted", True),
])
def test_run_turns_failures_into_a_stop_reason_and_closes_the_envs(tmp_path, error, stopped, interrupted):
    closed: list[str] = []
    stack = ExitStack()
    stack.callback(closed.append, "envs")
    watchdog = _Watchdog(fired=False)
    envs = build.TrainingEnvs(venv=None, isolation=[], stack=stack, watchdog=watchdog)  # type: ignore[arg-type]
    outcome = run(_FailingModel(error), envs, TrainConfig(task=TASK, envs=2), tmp_path / "metrics.jsonl")  # type: ignore[arg-type]
    assert isinstance(outcome, Outcome) and outcome.interrupted is interrupted
    assert outcome.stopped.startswith(stopped)
    assert outcome.last_rollout["stopped"] == outcome.stopped and outcome.last_rollout["steps"] == 96
    assert closed == ["envs"] and watchdog.stopped


def test_interrupted_training_records_what_it_learned_then_raises(tmp_path):
    """Ctrl-C: policy.zip and train.json are written (with the resolved config), then KeyboardInterrupt; train()
    leaves torch's process-wide settings to the caller."""
    def interrupt(done, total, record):
        raise KeyboardInterrupt

    torch.set_num_threads(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(TrainConfig(task=TASK, steps=256, envs=2, ppo=SMALL, workers=IN_PROCESS, out=str(tmp_path)),
                  progress=interrupt)
        assert torch.get_num_threads() == 2
    finally:
        configure_torch()
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["result"]["stopped_reason"] == "interrupted" and (tmp_path / "policy.zip").is_file()
    assert set(saved) == {"config", "result", "versions"}
    config = TrainConfig.from_dict(saved["config"])
    assert config == TrainConfig(task=TASK, steps=256, envs=2, ppo=SMALL, workers=IN_PROCESS, out=str(tmp_path),
                                 task_coef=1.0)


# ----- the info keys ------------------------------------------------------------------------------------------
def test_the_training_env_writes_the_recorded_info_keys():
    from autoreward.calm.subgoals import parse_subgoals
    from autoreward.train.envs import make_env

    env = make_env(TASK, 0, Path(EXAMPLE).read_text(), 1.0, 1.0, 9, True, parse_subgoals("pick up the key"))
    try:
        env.reset()
        seen: set[str] = set()
        rng = np.random.default_rng(0)
        for _ in range(20):
            _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            seen |= set(info)
            if terminated or truncated:
                env.reset()
    finally:
        env.close()
    assert seen & keys.TRAINING_KEYS == keys.TRAINING_KEYS - {keys.REWARD_ERROR}  # a working reward: no error
    assert keys.END_STATUS in seen
