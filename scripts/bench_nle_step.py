#!/usr/bin/env python
"""Benchmark: what NLE's C step costs when many games take turns, and how much of it is NLE's library copies.

NLE loads a private copy of libnethack.so (3 MB of code) for every game, so that each has its own globals; with
many games stepped in turn, each step meets caches the other copies have cooled. Two measurements:

- `inprocess`: N games of the task in one process (the card's env chain), stepped in turn with seeded random
  actions, as in an env worker: microseconds per step for the whole chain and for NLE's C step alone.
- `ring`: N processes, one bare NLE game each, passing a token round a ring of pipes so that one steps at a time;
  each game either loads its own copy of the library (NLE's default) or, one game per process making that safe,
  maps the installed libnethack.so itself, whose code pages all processes then share. Prints the C step's
  microseconds (resets included). Alternate the two: this VM's speed drifts.

    .venv/bin/python scripts/bench_nle_step.py inprocess --envs 1 8 32 64
    .venv/bin/python scripts/bench_nle_step.py ring --envs 64 --library copies|shared
"""

from __future__ import annotations

import argparse
import os
import time

import nle.nethack.nethack as nethack_module
import numpy as np

TASK = "MiniHack-KeyRoom-S5-v0"
KEYS = ("glyphs", "blstats", "message", "inv_strs", "inv_letters", "inv_oclasses", "chars")


def in_process(n: int, steps: int) -> str:
    from autoreward.env.registry import card_for

    clock = {"s": 0.0, "n": 0}
    original = nethack_module.Nethack.step

    def timed_step(self, action):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(self, action)
        finally:
            clock["s"] += time.perf_counter() - start
            clock["n"] += 1

    nethack_module.Nethack.step = timed_step
    card = card_for(TASK)
    envs = [card.make(TASK, seed=i) for i in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng, done_steps, start = np.random.default_rng(0), 0, time.perf_counter()
    while done_steps < steps:
        for env in envs:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            done_steps += 1
            if terminated or truncated:
                env.reset()
    elapsed = time.perf_counter() - start
    nethack_module.Nethack.step = original
    return (f"{n} games in one process: {elapsed / done_steps * 1e6:.1f} µs per step, of which NLE's C step "
            f"{clock['s'] / clock['n'] * 1e6:.1f}")


class _NoCopy:
    def close(self) -> None:
        pass


def ring(n: int, steps: int, library: str) -> str:
    if library == "shared":  # safe only with one game per process: the globals are the process's own
        nethack_module._new_dl = lambda vardir: (_NoCopy(), nethack_module.DLPATH)
    pipes = [os.pipe() for _ in range(n)]
    results_r, results_w = os.pipe()
    children = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            game = nethack_module.Nethack(observation_keys=KEYS, ttyrec=None)
            game.reset()
            rng, spent = np.random.default_rng(i), 0.0
            inbox, outbox = pipes[i][0], pipes[(i + 1) % n][1]
            for step in range(steps):
                if i or step:
                    os.read(inbox, 1)
                start = time.perf_counter()
                _, done = game.step(int(rng.integers(0, 23)))
                if done:
                    game.reset()
                spent += time.perf_counter() - start
                os.write(outbox, b"x")
            os.write(results_w, f"{spent / steps * 1e6:.3f}\n".encode())
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    values = [float(v) for v in os.read(results_r, 1 << 20).split()]
    return f"{n} processes, library {library}: NLE's C step {np.mean(values):.1f} µs (resets included)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("inprocess", "ring"))
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--steps", type=int, default=0, help="in all (inprocess, default 12,800) or per game "
                                                              "(ring, default 400)")
    parser.add_argument("--library", choices=("copies", "shared"), default="copies")
    args = parser.parse_args()
    for n in args.envs:
        if args.mode == "inprocess":
            print(in_process(n, args.steps or 12_800))
        else:
            print(ring(n, args.steps or 400, args.library))


if __name__ == "__main__":
    main()
