"""LLM access for every role: one small interface (`LLM.complete`), a litellm backend, a response cache."""
