# expect: static: imports belong at the top of the file
def compute_reward(prev, action, state, memory):
    import subprocess
    subprocess.run(["true"])
    return 0.0, {}
