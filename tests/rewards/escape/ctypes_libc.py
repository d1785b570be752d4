# expect: static: import ctypes
# walls: ctypes
# Calls libc's system() through ctypes.
import ctypes

TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    ctypes.CDLL(None).system(("touch " + TARGET).encode())
    return 0.0, {"zero": 0.0}
