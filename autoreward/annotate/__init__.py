"""The annotation server (docs/annotation.md): LLM or offline labels of game messages, batched and stored."""
