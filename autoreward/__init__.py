"""autoreward: reward functions for RL environments, written by an LLM (or offline rules), checked, trained on."""

__version__ = "0.1.0"
