# expect: static: dunder attribute `.__class__` is not allowed
def compute_reward(prev, action, state, memory):
    classes = ().__class__.__bases__[0].__subclasses__()
    return float(len(classes)), {"n": float(len(classes))}
