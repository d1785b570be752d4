# expect: static: `open` is not allowed
def compute_reward(prev, action, state, memory):
    with open("/etc/passwd") as handle:
        memory["secret"] = handle.read()
    return 0.0, {}
