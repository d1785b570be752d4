# expect: static: attribute `.gi_frame` is not part of the documented API
def compute_reward(prev, action, state, memory):
    gen = (x for x in [1])
    frame = gen.gi_frame.f_back
    return 0.0, {"f": float(frame is None)}
