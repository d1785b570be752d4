"""The reward synthesis loop: designer -> critic -> trainer -> evaluator -> analyzer, round after round."""
