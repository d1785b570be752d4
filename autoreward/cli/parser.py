"""The `autoreward` command line as argparse tables: every command, option and default, and nothing else.

Light on purpose (`autoreward --help` imports no torch or environment): defaults come from the light config
modules (`train.config`, `synth.store`), and each command names its handler as "module:function", imported
only when that command runs (`autoreward.cli.main`).
"""

from __future__ import annotations

import argparse
from typing import Any

from autoreward.cli.argtypes import (
    finite,
    non_negative,
    non_negative_float,
    port,
    positive,
    positive_float,
    seed,
    share,
    significance,
    workers,
)
from autoreward.cli.common import TOKEN_ENV
from autoreward.synth.store import EXECUTORS, IterateConfig
from autoreward.train.config import (
    EVAL_SEED,
    AnnotatorConfig,
    CalmConfig,
    OniConfig,
    PPOConfig,
    TrainConfig,
    WorkerConfig,
)

DESCRIPTION = ("The `autoreward` command line: envs, check, train, eval, bench, iterate, inspect, report, serve, "
               "calm.")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; handlers are named "module:function" and loaded when their command runs."""
    parser = argparse.ArgumentParser(prog="autoreward", description=DESCRIPTION)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    envs = sub.add_parser("envs", help="list the supported tasks, or show what the designer is told about one")
    envs.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    envs.add_argument("task", nargs="?", help="task id (with `show`)")
    _task_options(envs)
    envs.set_defaults(handler="autoreward.cli.envs:cmd_envs")

    check = sub.add_parser("check", help="check a reward file: static rules, a sandboxed probe (and a review)")
    check.add_argument("reward", help="path of the reward file")
    check.add_argument("--task", help="task id, e.g. MiniHack-KeyRoom-S5-v0")
    check.add_argument("--transitions", type=positive, default=256, help="probe transitions (default 256)")
    check.add_argument("--seed", type=seed, default=0)
    check.add_argument("--llm", help="also run stage 3, the review: `offline` for the rules (scripted play), or a "
                                     "litellm model for the rules and the model's checklist (default: stages 1-2)")
    check.add_argument("--llm-api-base", help="base URL of an OpenAI-compatible server (or AUTOREWARD_LLM_API_BASE)")
    check.add_argument("--description", help="the task in words for the review (default: the env card's goal)")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    _task_options(check, description=False)
    check.set_defaults(handler="autoreward.cli.envs:cmd_check")

    _train_commands(sub)

    ev = sub.add_parser("eval", help="evaluate a trained policy by the task's own success")
    ev.add_argument("--task", help="task id (or --card / --des-file)")
    ev.add_argument("--policy", required=True, help="policy.zip (or the training output folder)")
    ev.add_argument("--episodes", type=positive, default=50)
    ev.add_argument("--seed", type=seed, default=EVAL_SEED,
                    help=f"evaluation seed (default {EVAL_SEED}, apart from training seeds)")
    ev.add_argument("--greedy", action="store_true", help="take the most likely action instead of sampling")
    ev.add_argument("--out", help="output folder (eval.json, trajectories.jsonl; default runs/eval-<task>-<time>)")
    ev.add_argument("--json", action="store_true")
    _task_options(ev)
    ev.set_defaults(handler="autoreward.cli.train:cmd_eval")

    _add_bench_parser(sub)
    _synth_commands(sub)
    _report_command(sub)
    _serve_command(sub)
    _calm_commands(sub)
    return parser


def _train_commands(sub: Any) -> None:
    """Register `train` on the CLI's subparsers; its defaults are TrainConfig's and its sections'."""
    train = sub.add_parser("train", help="train a PPO policy with a reward file (or the task reward alone)")
    train.add_argument("--task", help="task id (or --card / --des-file)")
    train.add_argument("--reward", help="reward file, or `none` for the task's own sparse reward (the default "
                                        "with --intrinsic or --calm)")
    train.add_argument("--steps", type=positive, default=TrainConfig.steps, help="default %(default)s")
    train.add_argument("--seed", type=seed, default=TrainConfig.seed, help="default %(default)s")
    train.add_argument("--envs", type=positive, default=TrainConfig.envs,
                       help="parallel environments (default %(default)s)")
    train.add_argument("--env-workers", type=workers, default=WorkerConfig.count,
                       help="walled processes running the envs and the reward code: -1 auto (one per core, at "
                            "least 4 envs each); 0 inside the trainer, only with --reward none (default %(default)s)")
    train.add_argument("--serial-update", action="store_true",
                       help="update after each rollout as plain PPO does (default: during the first 3/4 of the next "
                            "rollout, which acts one update behind until then; docs/benchmarks.md)")
    train.add_argument("--reward-memory-mb", type=positive, default=WorkerConfig.reward_memory_mb,
                       help="memory reward code may hold per env worker, above the envs' own (default "
                            "%(default)s); over it, training stops with the reason")
    train.add_argument("--device", default=TrainConfig.device, choices=["auto", "cpu", "cuda"],
                       help="default %(default)s")
    train.add_argument("--task-coef", type=finite, default=TrainConfig.task_coef,
                       help="c_ext, weight of the task reward (default 1; with --intrinsic ONI's 10, or 0.1 on "
                            "score tasks)")
    oni = train.add_argument_group("ONI intrinsic reward (LLM labels of the message line; docs/annotation.md)")
    oni.add_argument("--intrinsic", metavar="oni:MODEL", default=OniConfig.intrinsic,
                     help="oni:retrieval (label table) | oni:classification (n-gram MLP) | oni:ranking "
                          "(Bradley-Terry on pairs)")
    oni.add_argument("--intrinsic-coef", type=finite, default=OniConfig.coef, help="c_int (default %(default)s, ONI)")
    oni.add_argument("--count-exponent", type=non_negative_float, default=OniConfig.count_exponent,
                     help="beta: the N-th sight of a message in an episode pays 1/N^beta (default %(default)s, ONI)")
    oni.add_argument("--annotator", metavar="URL", default=AnnotatorConfig.url,
                     help="annotation server (default: start one in this process)")
    oni.add_argument("--annotator-token", default=AnnotatorConfig.token,
                     help="bearer token for --annotator (default: $AUTOREWARD_ANNOTATE_TOKEN)")
    oni.add_argument("--llm", default=AnnotatorConfig.llm,
                     help="labeller of the server started here: offline (lexicon) or a litellm model "
                          "(default %(default)s)")
    oni.add_argument("--llm-api-base", default=AnnotatorConfig.api_base,
                     help="OpenAI-compatible server URL for --llm")
    oni.add_argument("--labels-db", default=AnnotatorConfig.labels_db,
                     help="label store of the server started here (default OUT/labels.sqlite)")
    calm = train.add_argument_group("CALM auxiliary reward (subgoals judged on the annotation server)")
    calm.add_argument("--calm", action="store_true", default=CalmConfig.enabled,
                      help="pay a bonus the first time in an episode each subgoal is achieved (judged by --llm)")
    calm.add_argument("--subgoals", default=CalmConfig.subgoals,
                      help="';'-separated subgoals, e.g. 'pick up the key;open the door' (default: the task's "
                           "decomposition, by --llm)")
    calm.add_argument("--calm-coef", type=finite, default=CalmConfig.coef,
                      help="bonus per subgoal (default 0.5 x the task reward's weight)")
    train.add_argument("--eval-episodes", type=non_negative, default=50, help="evaluate after training (0: skip)")
    train.add_argument("--skip-check", action="store_true", help="do not run the critic before training")
    train.add_argument("--out", help="output folder (metrics.jsonl, policy.zip, eval.json; default "
                                     "runs/train-<task>-<time>)")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    _task_options(train)
    train.set_defaults(handler="autoreward.cli.train:cmd_train")

def _synth_commands(sub: Any) -> None:
    """Register `iterate` and `inspect` on the CLI's subparsers."""
    it = sub.add_parser("iterate", help="synthesise a reward for a task: design, check, train, evaluate, analyse")
    it.add_argument("task", nargs="?", help="task id, e.g. MiniHack-KeyRoom-S5-v0 (not with --resume)")
    it.add_argument("--description", help="the task in words (default: the env card's goal)")
    it.add_argument("--llm", default=IterateConfig.llm,
                    help="litellm model (openai/gpt-4o-mini, anthropic/..., hosted_vllm/..., ollama/...) or "
                         "`offline` for the rule-based roles (default)")
    it.add_argument("--llm-api-base", help="base URL of an OpenAI-compatible server (or AUTOREWARD_LLM_API_BASE)")
    it.add_argument("--llm-timeout", type=positive_float, default=IterateConfig.llm_timeout_s,
                    help="seconds per LLM call (default %(default)s)")
    it.add_argument("--max-llm-calls", type=positive,
                    help="stop the run (saved, resumable) after this many calls; with --resume: the new limit")
    it.add_argument("--max-llm-cost", type=non_negative_float,
                    help="stop the run (saved, resumable) after this many USD; with --resume: the new limit")
    it.add_argument("--rounds", type=positive, default=IterateConfig.rounds, help="default %(default)s")
    it.add_argument("--candidates", type=positive, default=IterateConfig.candidates,
                    help="candidates per round (default %(default)s)")
    it.add_argument("--steps", type=positive, default=IterateConfig.steps,
                    help="training steps per candidate (default %(default)s)")
    it.add_argument("--envs", dest="train_envs", type=positive, default=IterateConfig.train_envs,
                    help="parallel environments per training (default %(default)s)")
    it.add_argument("--eval-episodes", type=positive, default=IterateConfig.eval_episodes, help="default %(default)s")
    it.add_argument("--repairs", type=non_negative, default=IterateConfig.repairs,
                    help="designer repairs after a rejection (default %(default)s)")
    it.add_argument("--workers", type=non_negative, default=IterateConfig.workers,
                    help="trainings at once with --executor local (default: min(candidates, cores))")
    it.add_argument("--executor", choices=EXECUTORS, default=IterateConfig.executor,
                    help="where trainings run: this machine's process pool, or a Ray cluster (pip install "
                         "'autoreward[ray]'; no shared filesystem needed) (default %(default)s)")
    it.add_argument("--ray-address", default=IterateConfig.ray_address, metavar="auto|HOST:PORT",
                    help="with --executor ray: the cluster to join (default: RAY_ADDRESS, else a Ray on this machine)")
    it.add_argument("--gpus-per-candidate", type=non_negative_float, default=IterateConfig.gpus_per_candidate,
                    metavar="F",
                    help="with --executor ray: GPUs each training reserves (fractions share one; default %(default)s)")
    it.add_argument("--seed", type=seed, default=IterateConfig.seed,
                    help="seed of the search: every candidate and the baseline")
    it.add_argument("--confirm-seeds", type=non_negative, default=IterateConfig.confirm_seeds,
                    help="retrain the top candidates and the task reward alone on this many fresh seeds "
                         "(seed+1, seed+2, ...) and choose the answer by mean success (default %(default)s; 0: off)")
    it.add_argument("--confirm-top", type=positive, default=IterateConfig.confirm_top,
                    help="how many candidates to confirm (default %(default)s)")
    it.add_argument("--significance", type=significance, default=IterateConfig.significance, metavar="P",
                    help="a reward is handed back only when a one-sided Fisher exact test over the evaluation "
                         "episodes puts its gain over the task reward alone at p <= P (default %(default)s; 1: any "
                         "higher success)")
    it.add_argument("--baselines", metavar="DIR",
                    help="cache of task-reward-alone trainings shared by runs (default: OUT/baselines)")
    it.add_argument("--device", default=IterateConfig.device, choices=["auto", "cpu", "cuda"])
    it.add_argument("--out", default=IterateConfig.out, help="folder of runs (default %(default)s/)")
    it.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run; finished candidates are kept")
    _task_options(it, description=False)
    it.set_defaults(handler="autoreward.cli.synth:cmd_iterate")

    ins = sub.add_parser("inspect", help="show a run: rounds and candidates, one candidate, or a diff of two (or a "
                                         "training folder's records)")
    ins.add_argument("run", nargs="?", help="run directory (runs/<run_id>; default: the latest run under --runs)")
    ins.add_argument("--runs", default="runs", metavar="DIR",
                     help="where to look for the latest run when no RUN_DIR is given (default runs/)")
    ins.add_argument("--candidate", metavar="R/K", help="show one candidate: code, verdict, evaluation, analysis")
    ins.add_argument("--diff", nargs=2, metavar=("R1/K1", "R2/K2"), help="diff two candidates' reward files")
    ins.add_argument("--json", action="store_true", help="print JSON")
    ins.set_defaults(handler="autoreward.cli.synth:cmd_inspect")


def _report_command(sub: Any) -> None:
    """Register `report`: one self-contained HTML page of a run or a training."""
    rep = sub.add_parser("report", help="write one self-contained HTML page of a run (or an `autoreward train` "
                                        "folder): plots, code, verdicts, analyses, episodes")
    rep.add_argument("run", nargs="?", help="run directory or training folder (default: the latest run under --runs)")
    rep.add_argument("--runs", default="runs", metavar="DIR",
                     help="where to look for the latest run when no RUN_DIR is given (default runs/)")
    rep.add_argument("--out", metavar="FILE.html", help="where to write the page (default RUN_DIR/report.html)")
    rep.add_argument("--open", action="store_true", help="open the page in the default browser")
    rep.set_defaults(handler="autoreward.cli.report:cmd_report")


def _serve_command(sub: Any) -> None:
    """Register `serve` on the CLI's subparsers."""
    serve = sub.add_parser("serve", help="run the annotation server: LLM (or offline) labels of game messages, "
                                         "batched and stored (docs/annotation.md)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000)")
    serve.add_argument("--llm", default="offline",
                       help="labeller: `offline` (the rule-based lexicon, default) or a litellm model "
                            "(openai/gpt-4o-mini, hosted_vllm/..., ollama/...)")
    serve.add_argument("--db", default="labels.sqlite", help="label store, SQLite (default labels.sqlite)")
    serve.add_argument("--token", default=None,
                       help=f"bearer token every request must carry (default: ${TOKEN_ENV}; none: no check)")
    serve.add_argument("--llm-api-base", default=None,
                       help="base URL of an OpenAI-compatible server for --llm (or AUTOREWARD_LLM_API_BASE)")
    serve.add_argument("--batch-size", type=positive, default=16, help="items per LLM call (default 16)")
    serve.add_argument("--concurrency", type=positive, default=4, help="LLM calls at once (default 4)")
    serve.add_argument("--offline-delay-ms", type=non_negative_float, default=0.0,
                       help="with --llm offline: wait this long per call, standing in for a slow LLM (benchmarks)")
    serve.set_defaults(handler="autoreward.cli.annotate:cmd_serve")

def _calm_commands(sub: Any) -> None:
    """Register `calm subgoals`, `calm dataset` and `calm eval` on the CLI's subparsers."""
    calm = sub.add_parser("calm", help="CALM: subgoals, labelled transitions, LLM or offline judges and their scores")
    calm_sub = calm.add_subparsers(title="calm commands", metavar="WHAT")

    goals = calm_sub.add_parser("subgoals", help="break a task into subgoals (LLM, cached; or offline rules)")
    goals.add_argument("--task", help="task id, e.g. MiniHack-KeyRoom-S5-v0 (or --card / --des-file)")
    _task_options(goals)
    _llm_flags(goals)
    goals.add_argument("--cache", help="decomposition cache (default: next to the LLM cache)")
    goals.add_argument("--json", action="store_true", help="print JSON")
    goals.set_defaults(handler="autoreward.cli.calm:cmd_subgoals")

    data = calm_sub.add_parser("dataset", help="roll out a task and label every step's subgoals from the game state")
    data.add_argument("--task", help="task id (or --card / --des-file)")
    _task_options(data)
    data.add_argument("--episodes", type=positive, required=True)
    data.add_argument("--seed", type=seed, default=0)
    data.add_argument("--out", help="JSONL file to write (default runs/calm-dataset-<task>-<time>/dataset.jsonl)")
    data.add_argument("--policy", help="a trained policy.zip (or its folder) to roll out besides the scripted "
                                       "explorer and the random policy")
    data.add_argument("--subgoals", help="';'-separated subgoals (default: the offline decomposition), e.g. "
                                         "'pick up the key;open the door'")
    data.add_argument("--negatives", type=non_negative_float, default=2.0,
                      help="negatives kept per positive (default 2)")
    data.add_argument("--all", action="store_true", help="keep every step (no balancing)")
    data.add_argument("--epsilon", type=share, default=0.25, help="random-action rate of the explorer (0.25)")
    data.add_argument("--json", action="store_true", help="print a JSON summary")
    data.set_defaults(handler="autoreward.cli.calm:cmd_dataset")

    ev = calm_sub.add_parser("eval", help="judge a dataset's transitions (LLM or offline) and score the judge")
    ev.add_argument("--dataset", required=True, help="JSONL file written by `calm dataset`")
    _llm_flags(ev)
    ev.add_argument("--out", help="write the report (and every judgement) to this JSON file")
    ev.add_argument("--judgements", help="JSON lines file keeping the LLM's judgements as they come, read back by a "
                                         "rerun, which asks only for the others (default: beside --out, else "
                                         "beside the dataset: NAME.judgements.jsonl)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(handler="autoreward.cli.calm:cmd_eval")
    calm.set_defaults(handler=lambda args: _usage(calm))

def _add_bench_parser(sub: Any) -> None:
    """`autoreward bench env`, `bench train` and `bench suite`."""
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(title="benchmarks", metavar="WHAT")
    bench_env = bench_sub.add_parser("env", help="env steps/s bare and with State building + a reward function")
    bench_env.add_argument("--task", required=True)
    bench_env.add_argument("--reward", required=True)
    bench_env.add_argument("--steps", type=positive, default=40_000)
    bench_env.add_argument("--seed", type=seed, default=0)
    bench_env.add_argument("--json", action="store_true")
    bench_env.set_defaults(handler="autoreward.cli.train:cmd_bench_env")
    bench_train = bench_sub.add_parser("train", help="training steps/s split into env, reward, inference and update "
                                                     "time, and the same training written with plain SB3")
    bench_train.add_argument("--task", required=True)
    bench_train.add_argument("--reward", help="reward file (default: the task reward alone)")
    bench_train.add_argument("--steps", type=positive, default=65_536, help="default %(default)s")
    bench_train.add_argument("--envs", type=positive, default=TrainConfig.envs, help="default %(default)s")
    bench_train.add_argument("--env-workers", type=workers, default=WorkerConfig.count, help="-1 auto (default)")
    bench_train.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    bench_train.add_argument("--seed", type=seed, default=0)
    bench_train.add_argument("--n-steps", type=positive, default=PPOConfig.n_steps,
                             help="steps per env per rollout (default %(default)s)")
    bench_train.add_argument("--serial-update", action="store_true", help="plain PPO's schedule (see train)")
    bench_train.add_argument("--no-plain", action="store_true", help="skip the plain SB3 run")
    bench_train.add_argument("--out", help="training output folder (default: a temporary one)")
    bench_train.add_argument("--json", action="store_true")
    bench_train.set_defaults(handler="autoreward.cli.bench:cmd_bench_train")
    suite = bench_sub.add_parser("suite", help="every (task, variant) cell of a task suite over seeds: table, JSON, "
                                               "plot (resumable: rerun it to go on)")
    suite.add_argument("--tasks", nargs="+", help="task ids (default: the suite's 12 tasks, autoreward.bench.suite)")
    suite.add_argument("--variants", nargs="+", help="sparse loop expert calm oni (default: all)")
    suite.add_argument("--steps", type=positive, default=150_000, help="training steps per run (default 150000)")
    suite.add_argument("--seeds", nargs="+", type=seed, default=[1, 2, 3], help="training seeds (default 1 2 3)")
    suite.add_argument("--search-seed", type=seed, default=0, help="the loop's search seed (default 0)")
    suite.add_argument("--rounds", type=positive, default=2, help="loop rounds (default 2)")
    suite.add_argument("--candidates", type=positive, default=2, help="loop candidates per round (default 2)")
    suite.add_argument("--eval-episodes", type=positive, default=50)
    suite.add_argument("--out", default="runs/suite", help="cells and trainings (default runs/suite)")
    suite.add_argument("--docs", default="docs/benchmarks", help="suite.json/.md/.png (default docs/benchmarks, "
                                                                 "which also updates docs/benchmarks.md)")
    suite.add_argument("--jobs", type=non_negative, default=0, help="trainings at once (default 0: half the cores)")
    suite.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    suite.set_defaults(handler="autoreward.cli.bench:cmd_bench_suite")

def _task_options(parser: argparse.ArgumentParser, description: bool = True) -> None:
    """The options that name a task outside the built-in cards: a plugin card, or a custom MiniHack level."""
    own = parser.add_argument_group("your own task (docs/cards.md)")
    own.add_argument("--card", metavar="MODULE:ATTR",
                     help="a plugin card: a card, card class or function returning one, importable as MODULE "
                          "(installed, on PYTHONPATH, or in the current folder); --task picks one of its tasks")
    own.add_argument("--des-file", metavar="LEVEL.des", help="a custom MiniHack level (des-file language); success is "
                                                            "reaching its staircase down; needs --description")
    if description:
        own.add_argument("--description", help="the task in words (with --des-file: what the designer is told)")
    own.add_argument("--max-steps", type=positive, help="with --des-file: the episode's step limit "
                                                          "(default MiniHack's: 100 nav, 200 keyroom, 250 full)")
    own.add_argument("--actions", choices=("nav", "keyroom", "full"),
                     help="with --des-file: the 8 moves (nav, default), moves + PICKUP + APPLY opening doors with "
                          "a key (keyroom), or NetHack's full command set (full)")


def _llm_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm", default="offline", help="litellm model (openai/gpt-4o-mini, hosted_vllm/..., ...) "
                                                         "or `offline` for the rules (default)")
    parser.add_argument("--llm-api-base", help="base URL of an OpenAI-compatible server (or AUTOREWARD_LLM_API_BASE)")

def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
