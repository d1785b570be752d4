#!/usr/bin/env python
"""Benchmark: the cost of State.path_to per call (first call on a State, cached call) against distance_to.

States come from random play (seeded) on each task. "first" empties the State's cache before each call, so
it pays everything a reward's first call pays (category decoding included); "cached" repeats the same call.
Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python scripts/bench_path.py [--states 300] [--repeat 5] [--tasks TASK ...]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import numpy as np

from autoreward.env.registry import card_for
from autoreward.env.state import State

TASKS = ("MiniHack-LavaCrossingS9N1-v0", "MiniHack-MazeWalk-Mapped-15x15-v0", "MiniHack-Room-15x15-v0")
CALLS = {
    "distance_to('stairs down')": lambda s: s.distance_to("stairs down"),
    "path_to('stairs down')": lambda s: s.path_to("stairs down"),
    "path_to('stairs down', avoid=('lava', 'water'))": lambda s: s.path_to("stairs down", avoid=("lava", "water")),
}


def random_states(task: str, n: int, seed: int = 0) -> list[State]:
    """`n` States of random play on `task` (episodes seeded seed, seed + 1, ...)."""
    card = card_for(task)
    rng = np.random.default_rng(seed)
    states: list[State] = []
    episode = 0
    while len(states) < n:
        env = card.make(task, seed=seed + episode)
        try:
            obs, _ = env.reset()
            states.append(card.state(obs))
            done, step = False, 0
            while not done and len(states) < n:
                obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
                step += 1
                done = terminated or truncated
                states.append(card.state(obs, reward, terminated, truncated, info, step))
        finally:
            env.close()
        episode += 1
    return states


def per_call_us(states: list[State], call, cold: bool, repeat: int) -> float:
    """Best of `repeat` passes over `states`, in microseconds per call (the bare loop's cost subtracted)."""
    def one_pass(work) -> float:
        start = time.perf_counter()
        for state in states:
            if cold:
                state._cache.clear()
            work(state)
        return time.perf_counter() - start

    for state in states:  # warm the caches for the cached case (and the interpreter for both)
        call(state)
    bare = min(one_pass(lambda s: None) for _ in range(repeat))
    best = min(one_pass(call) for _ in range(repeat))
    return max(best - bare, 0.0) / len(states) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"<!-- {platform.platform()}, Python {platform.python_version()}, {args.states} states per task, "
          f"best of {args.repeat} -->")
    print("| task (known cells, mean) | call | first call (µs) | cached call (µs) | result (mean; None) |")
    print("|---|---|---|---|---|")
    for task in args.tasks:
        states = random_states(task, args.states)
        known = statistics.mean(s.explored for s in states)
        for name, call in CALLS.items():
            first = per_call_us(states, call, cold=True, repeat=args.repeat)
            cached = per_call_us(states, call, cold=False, repeat=args.repeat)
            results = [call(s) for s in states]
            found = [r for r in results if r is not None]
            mean = f"{statistics.mean(found):.1f}" if found else "-"
            print(f"| {task} ({known:.0f}) | `{name}` | {first:.1f} | {cached:.2f} | "
                  f"{mean}; {len(results) - len(found)} of {len(results)} |", flush=True)


if __name__ == "__main__":
    main()
