"""`autoreward bench train`: a real (tiny) training, clocked, beside the same training written with plain SB3."""

from __future__ import annotations

import json

import pytest
import torch

from autoreward.cli import main
from autoreward.train.envs import make_env
from autoreward.train.features import NetHackExtractor
from tests.common import EXAMPLE, KEYROOM


def test_bench_train_splits_the_time_and_compares_with_plain_sb3(capsys, tmp_path):
    assert main(["bench", "train", "--task", KEYROOM, "--reward", str(EXAMPLE), "--steps", "256", "--envs", "4",
                 "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ours, plain = result["autoreward"], result["plain_sb3"]
    assert ours["steps"] >= 256 and plain["steps"] >= 256 and ours["workers"] == 1
    assert set(ours["wall_share"]) == {"env_wait", "inference", "update"}
    assert all(share >= 0 for share in ours["wall_share"].values())
    assert sum(ours["wall_share"].values()) == pytest.approx(1.0, abs=0.01)  # the three phases are the whole run
    cpu = ours["worker_cpu_us_per_step"]
    assert cpu["reward"] > 0 and cpu["observation"] > 0 and cpu["env"] > 0  # the workers' clocks were read
    assert result["ratio"] == pytest.approx(ours["sps"] / plain["sps"], rel=0.01)
    assert result["command"].startswith("autoreward bench train --task MiniHack-KeyRoom-S5-v0 --reward")
    assert result["machine"]["cpu_count"] >= 1 and (tmp_path / "metrics.jsonl").is_file()


def test_the_extractor_s_lookup_is_an_embedding_with_the_same_gradients():
    env = make_env(KEYROOM, 0, None)
    space = env.observation_space
    env.close()
    extractor = NetHackExtractor(space)
    torch.manual_seed(0)
    obs = {key: torch.as_tensor(box.sample()[None].repeat(3, 0), dtype=torch.float32) for key, box in space.items()}
    obs["crop"] = torch.randint(0, int(space["crop"].high.max()) + 1, obs["crop"].shape).float()
    features = extractor(obs)
    features.square().sum().backward()
    ours = extractor.embed.weight.grad.clone()
    extractor.zero_grad()
    width = extractor.crop_net[1].out_features
    reference = extractor.crop_net(extractor.embed(obs["crop"].long()))  # nn.Embedding's own lookup
    assert torch.allclose(reference, features[:, :width])
    reference.square().sum().backward()
    assert ours.abs().sum() > 0 and torch.allclose(extractor.embed.weight.grad, ours, atol=1e-6)
