# expect: static: `from importlib import ...` is not allowed
from importlib import import_module


def compute_reward(prev, action, state, memory):
    return 0.0, {"x": float(bool(import_module("socket")))}
