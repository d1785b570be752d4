"""`autoreward report`: one self-contained HTML page of a run or a training (plots, code, verdicts, episodes)."""
