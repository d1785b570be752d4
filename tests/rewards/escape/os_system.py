# expect: static: import os
# walls: os.system
# Runs a shell command (os is already loaded in the worker, so the import itself is no new import).
import os

TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    os.system("touch " + TARGET)
    return 0.0, {"zero": 0.0}
