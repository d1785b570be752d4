"""What a training run depends on: `TrainConfig` and its sections. Every default is written here, once.

The command line reads its defaults from these classes (`autoreward train --help` shows them), and train.json
keeps `asdict(config)` (the sections as nested objects; `TrainConfig.from_dict` reads it back). Light on
purpose: the CLI imports it to build its parser, so nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoreward.errors import UsageError
from autoreward.intrinsic.labels import ONI_BETA, ONI_COEF

EVAL_SEED = 1000  # evaluation games are seeded apart from training games (seeds 0..)
SPIN_S = 0.003  # how long a waiting side (trainer or env worker) polls before it sleeps, when it has a core of its own
DEFAULT_ENVS = 64  # envs per training: one policy forward serves them all, several per worker share the hand-off
MIN_ENVS_PER_WORKER = 4  # fewer envs per worker process would cost more in messages than the extra core brings
REWARD_MEMORY_MB = 2048  # what reward code may hold per worker, on top of the envs' own memory
# env workers' CPU priority below the trainer's (autoreward.train.worker.lower_priority): 5 lets the trainer's group
# outweigh two workers' (1024 against 2 x 335) while a worker still keeps a third of a core against another job
WORKER_NICE = 5
#: Episodes a training's running success is taken over (SB3's episode window; autoreward.train.metrics): one rollout
#: of 64 envs x 16 steps ends few episodes of a long task, and "100%" of 2 episodes says little.
RECENT_EPISODES = 100


@dataclass
class PPOConfig:
    """PPO's hyper-parameters (stable-baselines3's names), and how its update is scheduled."""

    n_steps: int = 16  # per env, per rollout (64 envs: 1,024 transitions per update)
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # update while the next rollout is collected, one update behind (autoreward.train.overlap); False: plain PPO
    overlap: bool = True
    join_at: float = 0.75  # with overlap: the share of the next rollout's steps after which the update's weights act


@dataclass
class NetworkConfig:
    """The policy: the map crop around the agent it sees (autoreward.train.observation), its layers."""

    crop: int = 9
    embed_dim: int = 8  # glyph embedding (autoreward.train.features)
    crop_features: int = 128  # the embedded crop's linear layer (NetHack's extractor)
    map_features: int = 64  # the coarse map's linear layer (NetHack's extractor)
    pi_layers: list[int] = field(default_factory=list)  # heads straight on the features: fewer ops per step
    vf_layers: list[int] = field(default_factory=list)


@dataclass
class WorkerConfig:
    """The walled processes that run the envs and the reward code (autoreward.train.vec), and their limits."""

    count: int = -1  # -1 auto (see build.env_workers); 0: envs in the trainer process, only without reward code
    cores: int = 0  # cores this training may use (auto settings follow it); 0: all of this machine's
    spin_s: float = -1.0  # how long trainer and workers poll before sleeping; -1 auto: SPIN_S when each has a core
    nice: int = WORKER_NICE  # how far below the trainer's the workers' CPU priority is (0: the same)
    reward_memory_mb: int = REWARD_MEMORY_MB  # what reward code may hold per worker, above the envs' own use
    reward_call_timeout_s: float = 1.0  # one reward call longer than this stops training
    step_timeout_s: float = 120.0  # an env step that takes longer than this means a hung worker: the watchdog kills it


@dataclass
class OniConfig:
    """ONI's intrinsic reward from LLM labels of the message line (autoreward.train.oni); off without `intrinsic`.

    The defaults are the ONI paper's (Klissarov et al. 2024), written once in autoreward.intrinsic.labels (light:
    the CLI reads them without torch) and shared with autoreward.intrinsic.reward.IntrinsicConfig.
    """

    intrinsic: str | None = None  # oni:retrieval | oni:classification | oni:ranking
    coef: float = ONI_COEF  # c_int
    count_exponent: float = ONI_BETA  # beta: the N-th sight of a message in an episode pays 1/N^beta

    @property
    def enabled(self) -> bool:
        return self.intrinsic is not None


@dataclass
class CalmConfig:
    """CALM's auxiliary reward: subgoals judged on the annotation server (autoreward.calm.reward)."""

    enabled: bool = False
    subgoals: str | None = None  # ';'-separated; None: the task's decomposition (offline, or by the annotator's llm)
    coef: float | None = None  # bonus per subgoal; None: COEF_SHARE (0.5) x task_coef, filled in when training starts


@dataclass
class AnnotatorConfig:
    """Where ONI's labels and CALM's judgements come from: a server at `url`, or one started in the trainer."""

    url: str | None = None  # None: start one in this process, on a free port of 127.0.0.1
    token: str | None = None  # bearer token for `url`
    llm: str = "offline"  # the labeller of a server started here (and CALM's decomposer): offline or a litellm model
    api_base: str | None = None  # OpenAI-compatible server URL for `llm`
    labels_db: str | None = None  # the label store of a server started here; None: <out>/labels.sqlite


#: The sections of a TrainConfig: its fields that are dataclasses of their own.
SECTIONS: dict[str, type] = {"ppo": PPOConfig, "network": NetworkConfig, "workers": WorkerConfig, "oni": OniConfig,
                             "calm": CalmConfig, "annotator": AnnotatorConfig}


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in train.json)."""

    task: str
    reward: str | None = None  # path of a reward file; None trains on the task reward alone
    steps: int = 150_000
    seed: int = 0
    envs: int = DEFAULT_ENVS  # one policy forward for all, several per worker (docs/benchmarks.md)
    device: str = "auto"  # auto | cpu | cuda
    out: str = "runs/train"
    task_coef: float | None = None  # weight of the task reward; None: 1, or ONI's value with an intrinsic reward
    ppo: PPOConfig = field(default_factory=PPOConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    workers: WorkerConfig = field(default_factory=WorkerConfig)
    oni: OniConfig = field(default_factory=OniConfig)
    calm: CalmConfig = field(default_factory=CalmConfig)
    annotator: AnnotatorConfig = field(default_factory=AnnotatorConfig)
    # Where the task's card comes from when it is not built in (autoreward.env.registry.source_of: a plugin's
    # module:attr and import folder, or a custom level's text); None: a built-in task.
    card: dict[str, Any] | None = None

    def reward_source(self) -> str | None:
        if self.reward is None:
            return None
        path = Path(self.reward)
        if not path.is_file():
            raise UsageError(f"reward file {self.reward!r} not found")
        return path.read_text(encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config that `asdict` made `data` (train.json's "config"); sections it lacks keep their defaults."""
        sections = {name: kind(**data[name]) for name, kind in SECTIONS.items() if name in data}
        return cls(**{**{k: v for k, v in data.items() if k not in SECTIONS}, **sections})

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with `changes`; a section's fields go as `section={field: value}`."""
        changes = {name: dataclasses.replace(getattr(self, name), **value)
                   if name in SECTIONS and isinstance(value, dict) else value for name, value in changes.items()}
        return dataclasses.replace(self, **changes)
