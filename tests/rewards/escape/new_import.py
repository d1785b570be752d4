# expect: static: import smtplib
# walls: import
# Imports a module the worker has not loaded (new code, here a mail client, reachable from reward code).
TARGET = "ESCAPE_PATH"


def compute_reward(prev, action, state, memory):
    import smtplib

    smtplib.SMTP("127.0.0.1", 25, timeout=0.1).sendmail("a@b", ["c@d"], TARGET)
    return 0.0, {"zero": 0.0}
