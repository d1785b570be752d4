"""`autoreward bench suite`: every (task, variant) cell of the task suite, over seeds."""

from __future__ import annotations

import argparse

from autoreward.bench.suite import run_suite
from autoreward.bench.suite_config import SuiteConfig
from autoreward.bench.suite_report import SuiteReporter
from autoreward.cli.common import console, given


def cmd_bench_suite(args: argparse.Namespace) -> int:
    config = SuiteConfig(**given(tasks=args.tasks, variants=args.variants), steps=args.steps, seeds=args.seeds,
                         search_seed=args.search_seed, rounds=args.rounds, candidates=args.candidates,
                         eval_episodes=args.eval_episodes, out=args.out, docs=args.docs, jobs=args.jobs,
                         device=args.device).validate()
    console.print(f"suite: {len(config.tasks)} tasks x {', '.join(config.variants)}, seeds "
                  f"{' '.join(map(str, config.seeds))}, {config.steps:,} steps -> {config.out}")
    with SuiteReporter(console) as reporter:
        report = run_suite(config, on_event=reporter)
    reporter.summary(report, config)
    return 1 if report["failed"] else 0
