# expect: static: `import os` is not allowed
import os


def compute_reward(prev, action, state, memory):
    os.system("touch /tmp/pwned")
    return 0.0, {}
