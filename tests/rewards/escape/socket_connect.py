# expect: static: import socket
# walls: socket
# Opens a TCP connection (to exfiltrate, or to reach an LLM API with stolen keys).
import socket

TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))
    return 0.0, {"zero": 0.0}
