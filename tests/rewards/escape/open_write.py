# expect: static: `open` is not allowed
# walls: open
# Writes a file with open() and swallows the refusal: the wall records it all the same.
TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    try:
        with open(TARGET, "w") as handle:
            handle.write("escaped")
    except Exception:
        pass
    return 0.0, {"zero": 0.0}
