"""MiniHack level compilation from behind the walls: one narrow request to a helper process outside them.

Some MiniHack tasks (the MiniGrid ports: LavaCrossing, SimpleCrossing, MultiRoom) write a new level file at every
reset and run MiniHack's patch script (bash, lev_comp, dlb) to compile it into the game's data. An env worker
may not start programs (Landlock), so before raising its walls it starts this helper (`python -I -m
autoreward.train.levels FD`) and routes `minihack.base`'s script call to it. The helper runs that one script
and nothing else: the request is the worker's env folder and a .des file inside it (or MiniHack's own level
folder), checked against the folders the worker reported while it was still trusted; anything else is refused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import types
import warnings
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from autoreward.paths import module_command
from autoreward.reward.walls import die_with_parent

with warnings.catch_warnings():  # minihack imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    from minihack import base


def _minihack_paths() -> tuple[str, str, str, str]:
    return base.PATCH_SCRIPT, base.HACKDIR, base.LIB_DIR, base.PATH_DAT_DIR


def check_request(args: Any, vardirs: Iterable[str]) -> list[str]:
    """The script call a worker may ask for, or ValueError: [PATCH_SCRIPT, one of vardirs, HACKDIR, LIB_DIR, des]."""
    script, hackdir, libdir, datdir = _minihack_paths()
    if not (isinstance(args, list) and len(args) == 5 and all(isinstance(a, str) for a in args)):
        raise ValueError("a level request is the patch script's five string arguments")
    if args[0] != script or args[2] != hackdir or args[3] != libdir:
        raise ValueError("only MiniHack's patch script with its own folders may run")
    vardir = os.path.realpath(args[1])
    if vardir not in {os.path.realpath(v) for v in vardirs}:
        raise ValueError("the level folder is not one of the worker's envs")
    des = os.path.realpath(args[4])
    if not des.endswith(".des") or not any(Path(des).is_relative_to(root) for root in (vardir, datdir)):
        raise ValueError("the level file must be a .des file in the env's folder or MiniHack's level folder")
    return [script, vardir, hackdir, libdir, des]


class LevelCompiler:
    """The worker's end: `call(args)` sends one script call to the helper and returns its exit status."""

    def __init__(self, vardirs: list[str], cwd: str, env: dict[str, str]) -> None:
        parent, child = socket.socketpair()
        self.process = subprocess.Popen(module_command("autoreward.train.levels", str(child.fileno())),
                                        pass_fds=(child.fileno(),), cwd=cwd, env=env, start_new_session=True)
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(list(vardirs))

    def call(self, args: list[str], **_: Any) -> int:
        self.conn.send([str(a) for a in args])
        status, detail = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"level compilation refused: {detail}")
        return int(detail)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()


def route_minihack_levels(envs: list[Any], cwd: str, env: dict[str, str]) -> LevelCompiler | None:
    """When MiniHack is loaded, send its script calls to a LevelCompiler (None when MiniHack is not in use)."""
    base = sys.modules.get("minihack.base")
    if base is None:
        return None
    vardirs = sorted({e.unwrapped.nethack._vardir for e in envs if hasattr(e.unwrapped, "nethack")})
    if not vardirs:
        return None
    compiler = LevelCompiler(vardirs, cwd, env)
    base.subprocess = types.SimpleNamespace(call=compiler.call, CalledProcessError=subprocess.CalledProcessError)
    return compiler


def serve(conn: Connection) -> int:
    vardirs = conn.recv()
    while True:
        try:
            args = conn.recv()
        except (EOFError, OSError):
            return 0
        try:
            command = check_request(args, vardirs)
        except ValueError as exc:
            conn.send(("refused", str(exc)))
            continue
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)
        conn.send(("ok", done.returncode))


def main(argv: list[str]) -> int:
    die_with_parent()
    conn = Connection(int(argv[1]))
    try:
        return serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
