"""Which provider a litellm model string names, and what it needs from the environment (keys, base URLs).

Nothing here sends a request: `missing_credentials` asks litellm which variables a provider needs, and
`require_credentials` turns a missing one into a usage error (exit 2) before any work starts.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from types import ModuleType

from autoreward.errors import UsageError

ENV_API_BASE = "AUTOREWARD_LLM_API_BASE"
ENV_API_KEY = "AUTOREWARD_LLM_API_KEY"
OFFLINE = "offline"

_KEY_ENV_VARS = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
    "huggingface": "HF_TOKEN",
}
# Providers whose calls need exactly one key variable (litellm's names): a missing one is told at once.
_ONLY_KEY = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "groq": "GROQ_API_KEY",
             "mistral": "MISTRAL_API_KEY", "deepseek": "DEEPSEEK_API_KEY", "openrouter": "OPENROUTER_API_KEY",
             "together_ai": "TOGETHERAI_API_KEY"}
# What providers (and the openai client inside litellm) say about a missing or bad key, whatever HTTP status
# litellm wraps it in: a key missing on our side comes back as "InternalServerError (HTTP 500): ... Missing
# credentials", or as the openai client's "The api_key client option must be set ...".
AUTH_MESSAGE = re.compile(
    r"missing credentials|api_key client option must be set|(?:missing|no|invalid|incorrect)\b[\w ]{0,20}"
    r"\bapi[ _-]?key|invalid_api_key|api key not valid|invalid x-api-key|no auth credentials",
    re.IGNORECASE,
)
# Base URLs litellm has a working default for: their variable is not required.
_DEFAULT_BASES = frozenset({"OLLAMA_API_BASE"})
# Variables litellm lists together where any one of them is enough.
_ALTERNATIVES = (frozenset({"GOOGLE_API_KEY", "GEMINI_API_KEY"}),)

_litellm: ModuleType | None = None
_import_lock = threading.Lock()


def import_litellm() -> ModuleType:
    """Import litellm once, on first use (it takes seconds), quiet and offline: no cost-map fetch, no banners."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.set_verbose = False
            if hasattr(litellm, "telemetry"):
                litellm.telemetry = False
            if not os.environ.get("LITELLM_LOG"):  # the user asked for litellm's logs: leave them on
                for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
            _litellm = litellm
        return _litellm


def resolve_model(model: str, api_base: str | None, litellm: ModuleType) -> str:
    """With a custom base URL, a model without a known provider prefix is sent as `openai/<model>`."""
    if api_base is None:
        return model
    prefix = model.split("/", 1)[0] if "/" in model else None
    providers = {str(getattr(p, "value", p)) for p in getattr(litellm, "provider_list", [])}
    if prefix is not None and prefix in providers:
        return model
    return f"openai/{model}"


def _key_env_var(model: str, litellm: ModuleType) -> str:
    """The environment variable that holds the key for `model`'s provider (for error messages)."""
    provider = model.split("/", 1)[0] if "/" in model else None
    if provider is None:
        try:
            provider = litellm.get_llm_provider(model)[1]
        except Exception:  # noqa: BLE001 - only for a message: an unknown provider falls back to a generic name
            provider = "openai"
    return _KEY_ENV_VARS.get(provider, f"{provider.upper().replace('-', '_')}_API_KEY")


def credential_hint(model: str, variables: list[str] | None = None, api_base: str | None = None) -> str:
    """What to set so that `model` can be called: its provider's variables, the generic key, or a local server."""
    if not variables:
        variables = [_key_env_var(model, import_litellm())]
    if api_base is not None:
        return f"Set {ENV_API_KEY} (or {' and '.join(variables)}) to a key that the server at {api_base} accepts."
    joiner = " or " if any(set(variables) <= alt for alt in _ALTERNATIVES) else " and "
    keys_only = all("KEY" in v or "TOKEN" in v for v in variables)
    generic = f" (or {ENV_API_KEY})" if keys_only else ""
    return (f"Set {joiner.join(variables)}{generic} in the environment; for a local OpenAI-compatible server "
            f"(vLLM, llama.cpp, a proxy) give --llm-api-base URL (or {ENV_API_BASE}) instead.")


def missing_credentials(model: str | None, api_base: str | None = None) -> str | None:
    """Why `model` cannot be called from this environment (the variables to set), or None when it can.

    A model no litellm provider serves is named as such. Else asks `litellm.validate_environment` which variables
    the provider needs and which are absent. A base URL
    (`api_base` or AUTOREWARD_LLM_API_BASE) with an `openai/` model is a local OpenAI-compatible server and needs no
    key; AUTOREWARD_LLM_API_KEY stands in for the provider's key; "offline" needs nothing. Nothing is sent.
    """
    if model is None or model.strip().lower() in ("", OFFLINE):
        return None
    api_base = api_base or os.environ.get(ENV_API_BASE) or None
    provider, _, name = model.strip().partition("/")
    variable = _ONLY_KEY.get(provider)
    if variable and name and api_base is None and not os.environ.get(variable) and not os.environ.get(ENV_API_KEY):
        # answered without importing litellm (seconds): the provider needs this one key and it is not set
        return f"{model.strip()} cannot be called: {variable} not set. {credential_hint(model.strip(), [variable])}"
    litellm = import_litellm()
    resolved = resolve_model(model.strip(), api_base, litellm)
    if api_base is not None and resolved.startswith("openai/"):
        return None  # a local server: the client sends a placeholder key when none is set
    try:
        litellm.get_llm_provider(resolved)
    except Exception:  # noqa: BLE001 - litellm's BadRequestError: every call would fail the same way
        return (f"{model.strip()} cannot be called: litellm knows no provider for it. Write it as PROVIDER/MODEL "
                f"(openai/gpt-4o-mini, anthropic/..., hosted_vllm/..., ollama/...), or give --llm-api-base URL "
                f"(or {ENV_API_BASE}) for an OpenAI-compatible server.")
    api_key = os.environ.get(ENV_API_KEY) or None
    try:
        found = litellm.validate_environment(resolved, api_key=api_key, api_base=api_base)
    except Exception:  # noqa: BLE001 - an unknown provider: let the first call say what is wrong
        return None
    missing = [name for name in found.get("missing_keys") or [] if name not in _DEFAULT_BASES]
    if not missing:
        return None
    return f"{resolved} cannot be called: {', '.join(missing)} not set. {credential_hint(resolved, missing)}"


def require_credentials(model: str | None, api_base: str | None = None) -> None:
    """Raise UsageError (exit 2) naming the variables to set when `model`'s credentials are not in the environment.

    Every command that will call an LLM calls this before doing any work.
    """
    problem = missing_credentials(model, api_base)
    if problem is not None:
        raise UsageError(problem)
