# expect: static: parameter default `[]` is not a constant
def compute_reward(prev, action, state, memory):
    seen = lambda pos, acc=[]: acc.append(pos) or len(acc)
    novelty = 0.01 * seen(state.pos)
    return novelty, {"novelty": novelty}
