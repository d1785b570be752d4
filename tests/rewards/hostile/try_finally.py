# expect: static: `try ... finally` is not allowed
# A `return` in `finally` swallows the time budget's interrupt: once the fuse burns, every call spins for the whole
# budget and then returns normally, so training slows to a crawl and never stops.
def compute_reward(prev, action, state, memory):
    try:
        while state.has_item("key"):
            pass
    finally:
        return 0.0, {"x": 0.0}
