# expect: static: import os
# walls: open
# Reads the process environment file, looking for API keys.
import os

TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    with open("/proc/self/environ", "rb") as handle:
        handle.read()
    return float(len(os.environ.get("OPENAI_API_KEY", ""))), {"key": 0.0}
