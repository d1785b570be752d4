# expect: static: bare `except:` is not allowed
def compute_reward(prev, action, state, memory):
    try:
        while True:
            pass
    except:  # noqa: E722
        pass
    return 0.0, {}
