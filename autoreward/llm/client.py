"""The litellm backend of `LLM`: cache first, then a budgeted call with our own retries, every call logged.

    llm = make_llm("openai/gpt-4o-mini", run_dir=run_dir, max_calls=200)   # None for "offline"
    answer = llm.complete([{"role": "user", "content": "..."}], role="designer", temperature=0.2)

Models are litellm provider strings (`openai/gpt-4o-mini`, `anthropic/claude-...`, `hosted_vllm/...`,
`ollama/...`); provider keys come from the usual environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).

Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, a proxy) is reached through a base URL: pass `api_base`
or set `AUTOREWARD_LLM_API_BASE` (e.g. `http://127.0.0.1:8000/v1`). With a base URL, a model name without a known
litellm provider prefix (`my-model`, `Qwen/Qwen2.5-7B-Instruct`) gets litellm's `openai/` prefix, i.e. it is sent
as is to that server's `/chat/completions`. Its key is `api_key`, else `AUTOREWARD_LLM_API_KEY`, else the
provider's own variable; a local `openai/` server needing no key works with none of them set.
`providers.require_credentials(model, api_base)` checks, before any work, that the variables the provider needs are set
(commands exit 2 naming them); a missing or refused key met later raises `LLMAuthError`, never retried.

Environment variables:
    AUTOREWARD_LLM_API_BASE   base URL of an OpenAI-compatible server, used when `api_base` is not given.
    AUTOREWARD_LLM_API_KEY    key for that server (or any provider), used when `api_key` is not given.
    LITELLM_LOCAL_MODEL_COST_MAP   set to True here before litellm is imported (unless already set), so litellm
                              reads its bundled price list instead of fetching it from the internet.

Run files (from `make_llm(..., run_dir=...)`): `llm/calls.jsonl`, one JSON line per attempt (cache hits and
failures included): {time, role, model, prompt_tokens, completion_tokens, cost, latency_s, cached, attempt, error,
key}; `llm/cache.sqlite`, the response cache. The `Budget` counts the run's real calls and their cost from
`calls.jsonl`, so every process of a run shares it and a resumed run continues from what was spent.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from autoreward.io import append_jsonl
from autoreward.llm.base import LLM, Completion, LLMAuthError, LLMError, Messages
from autoreward.llm.budget import Budget
from autoreward.llm.cache import ResponseCache, cache_key
from autoreward.llm.providers import (
    AUTH_MESSAGE,
    ENV_API_BASE,
    ENV_API_KEY,
    OFFLINE,
    credential_hint,
    import_litellm,
    resolve_model,
)

# Arguments the client sets itself; a caller passing them in **params is a mistake, not an override.
_RESERVED_PARAMS = frozenset(
    {"model", "messages", "api_base", "base_url", "api_key", "timeout", "num_retries", "max_retries", "stream"}
)
_KEY_LIKE = re.compile(r"\b(sk|pk|key|hf|gsk)[-_][A-Za-z0-9_\-]{4,}")
_log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class LiteLLMClient:
    """An `LLM` over litellm: response cache, budget, retries with exponential backoff, one log line per attempt.

    Retried: rate limits (429), timeouts, connection errors and server errors (5xx). Not retried: bad credentials,
    unknown models and bad requests, which raise `LLMError` at once. `retries` is the number of attempts after the
    first one. `params` are defaults for every call (temperature, max_tokens, ...), overridden by the keyword
    arguments of `complete`; both are part of the cache key (the base URL and key are not).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        cache: ResponseCache | None = None,
        calls_path: str | Path | None = None,
        budget: Budget | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        litellm = import_litellm()
        self.api_base = api_base or os.environ.get(ENV_API_BASE) or None
        self.model = resolve_model(model, self.api_base, litellm)
        self._api_key = api_key or os.environ.get(ENV_API_KEY) or None
        needs_placeholder = self.api_base and self.model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY")
        if self._api_key is None and needs_placeholder:
            self._api_key = "no-key"  # the openai client insists on a key; local servers ignore it
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.cache = cache
        self.calls_path = Path(calls_path) if calls_path is not None else None
        self.budget = budget
        self.params = dict(params or {})
        self._check_params(self.params)
        self._rng = random.Random(os.getpid())  # jitter differs between processes, repeatable within one

    def __repr__(self) -> str:
        return f"LiteLLMClient(model={self.model!r}, api_base={self.api_base!r})"

    @staticmethod
    def _check_params(params: dict[str, Any]) -> None:
        clash = sorted(_RESERVED_PARAMS & params.keys())
        if clash:
            raise ValueError(f"LLM params {clash} are set by the client itself (streaming is not supported)")

    def complete(self, messages: Messages, role: str, **params: Any) -> Completion:
        """Answer `messages` from the cache or, within the budget, from the model (retrying transient errors)."""
        self._check_params(params)
        request = {**self.params, **params}
        key = cache_key(self.model, messages, request)
        hit = self._cached(role, key)
        if hit is not None:
            return hit
        if self.budget is not None:
            self.budget.check()
        litellm = import_litellm()
        attempt = 0
        while True:
            attempt += 1
            start = time.perf_counter()
            try:
                response = litellm.completion(model=self.model, messages=messages, timeout=self.timeout_s,
                                              api_base=self.api_base, api_key=self._api_key, num_retries=0,
                                              **request)
            except Exception as exc:  # noqa: BLE001 - _failed re-raises all but transient provider errors
                self._failed(role, key, attempt, time.perf_counter() - start, exc, litellm)
                time.sleep(self._delay(attempt, exc))
                continue
            completion = self._completion(response, time.perf_counter() - start, litellm)
            self._keep(role, key, attempt, completion)
            return completion

    def _cached(self, role: str, key: str) -> Completion | None:
        """The cached answer for `key` (logged as a hit), or None; an unreadable cache counts as a miss."""
        if self.cache is None:
            return None
        start = time.perf_counter()
        try:
            hit = self.cache.get(key)
        except sqlite3.Error as exc:  # a broken cache costs money, not the run
            _log.warning("LLM cache %s unreadable (%s): calling the model", self.cache.path, exc)
            return None
        if hit is not None:
            hit.latency_s = time.perf_counter() - start
            self._log(role, key, attempt=0, completion=hit)
        return hit

    def _failed(self, role: str, key: str, attempt: int, latency: float, exc: Exception, litellm: ModuleType) -> None:
        """Log a failed attempt, then raise unless it is worth another try (a transient error, retries left)."""
        if not self._is_api_error(exc):
            error = self._redact(f"{type(exc).__name__}: {exc}")
            self._log(role, key, attempt=attempt, latency_s=latency, error=error)
            raise exc  # a bug on our side (bad argument, ...), not the provider's answer
        error = self._describe(exc)
        self._log(role, key, attempt=attempt, latency_s=latency, error=error)
        kind = self._classify(exc, litellm)
        if kind == "auth":
            hint = credential_hint(self.model, api_base=self.api_base)
            raise LLMAuthError(
                f"{self.model}: the credentials are missing or were refused ({error[:300]}). {hint} "
                "The key must be valid and have access to this model."
            ) from None
        if kind == "fatal":
            raise LLMError(f"{self.model}: the request was refused, not retried: {error}") from exc
        if attempt > self.retries:
            raise LLMError(
                f"{self.model}: giving up after {attempt} attempts (retries={self.retries}); last error: {error}"
            ) from exc

    def _keep(self, role: str, key: str, attempt: int, completion: Completion) -> None:
        """Log a paid answer, count it against the budget and put it in the cache."""
        self._log(role, key, attempt=attempt, completion=completion)
        if self.budget is not None and (self.calls_path is None or self.budget.calls_path != self.calls_path):
            self.budget.record(completion.cost)  # else the budget reads it from the line just logged
        if self.cache is not None:
            try:
                self.cache.put(key, completion)
            except sqlite3.Error as exc:  # the answer is paid for: return it even if it cannot be kept
                _log.warning("LLM cache %s not written (%s)", self.cache.path, exc)

    @staticmethod
    def _is_api_error(exc: BaseException) -> bool:
        """Whether `exc` is the provider's (or the network's) answer, as opposed to a programming error."""
        import openai  # heavy, and loaded with litellm: only once a litellm call has failed

        return isinstance(exc, openai.OpenAIError | httpx.HTTPError) or type(exc).__module__.startswith("litellm")

    @staticmethod
    def _classify(exc: BaseException, litellm: ModuleType) -> str:
        """'auth' (bad key: stop), 'retry' (transient: back off and retry) or 'fatal' (refused: stop).

        A missing or bad key is 'auth' whatever status litellm wraps it in (its "InternalServerError ... Missing
        credentials" is no server error): retrying cannot help.
        """
        status = getattr(exc, "status_code", None)
        if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (401, 403):
            return "auth"
        if AUTH_MESSAGE.search(str(exc)):
            return "auth"
        transient = (
            litellm.RateLimitError,
            litellm.Timeout,
            litellm.APIConnectionError,
            litellm.InternalServerError,
            litellm.ServiceUnavailableError,
            litellm.BadGatewayError,
        )
        if isinstance(exc, transient):
            return "retry"
        if isinstance(exc, litellm.BadRequestError | litellm.NotFoundError | litellm.UnprocessableEntityError):
            return "fatal"
        if isinstance(status, int) and (status in (408, 429) or status >= 500):
            return "retry"
        return "fatal"

    def _describe(self, exc: BaseException) -> str:
        """'<Type> (HTTP <status>): <message>', or 'no connection to <server>: <why>' when no HTTP answer came (litellm
        reports a refused connection as HTTP 500), with anything that looks like a key blanked out."""
        refused = _connection_failure(exc)
        if refused is not None:
            text = f"no connection to {self.api_base or self.model}: {type(refused).__name__}: {refused}"
        else:
            status = getattr(exc, "status_code", None)
            text = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {exc}"
        return self._redact(text)[:2000]

    def _redact(self, text: str) -> str:
        secrets = [self._api_key or ""]
        secrets += [value for name, value in os.environ.items() if name.endswith(("_KEY", "_TOKEN"))]
        for secret in secrets:
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        return _KEY_LIKE.sub(r"\1-***", text)

    def _delay(self, attempt: int, exc: BaseException) -> float:
        """Exponential backoff with up to 25% jitter, at least what a Retry-After header asks (capped)."""
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        delay *= 1.0 + 0.25 * self._rng.random()
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        try:
            retry_after = float(headers.get("retry-after", 0) or 0)
        except (TypeError, ValueError, AttributeError):
            retry_after = 0.0
        return max(delay, min(retry_after, self.max_backoff_s))

    def _completion(self, response: Any, latency_s: float, litellm: ModuleType) -> Completion:
        """Text, token usage and price of a litellm response (price 0.0 where litellm does not know the model)."""
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise LLMError(f"{self.model}: the response has no choices: {self._redact(str(response))[:500]}")
        text = getattr(choices[0].message, "content", None) or ""
        usage = getattr(response, "usage", None)
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # noqa: BLE001 - unknown price (local server, new model): count it as free
            cost = 0.0
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost=cost,
            latency_s=latency_s,
        )

    def _log(
        self,
        role: str,
        key: str,
        *,
        attempt: int,
        completion: Completion | None = None,
        latency_s: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Append one line to calls_path (no-op without one); attempt 0 is a cache hit."""
        if self.calls_path is None:
            return
        done = completion or Completion(text="", model=self.model, latency_s=latency_s)
        append_jsonl(
            self.calls_path,
            {
                "time": _now(),
                "role": role,
                "model": self.model,
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "cost": done.cost,
                "latency_s": round(done.latency_s, 4),
                "cached": done.cached,
                "attempt": attempt,
                "error": error,
                "key": key[:16],
            },
        )


def default_cache_path() -> Path:
    """The cache shared by runs without a run directory: $XDG_CACHE_HOME/autoreward/llm.sqlite."""
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "autoreward" / "llm.sqlite"


def make_llm(
    model: str | None,
    *,
    run_dir: str | Path | None = None,
    cache_path: str | Path | None = None,
    api_base: str | None = None,
    timeout_s: float = 60.0,
    retries: int = 4,
    max_calls: int | None = None,
    max_cost: float | None = None,
    backoff_s: float = 1.0,
) -> LLM | None:
    """The run's LLM: None for no model or "offline" (roles then use their rule-based versions), else a client.

    With `run_dir`, calls go to `run_dir/llm/calls.jsonl` and the cache to `run_dir/llm/cache.sqlite`
    (unless `cache_path` says otherwise); without, the cache is `default_cache_path()` and nothing is logged.
    """
    if model is None or model.strip().lower() in ("", OFFLINE):
        return None
    run_dir = Path(run_dir) if run_dir is not None else None
    calls_path = run_dir / "llm" / "calls.jsonl" if run_dir is not None else None
    if cache_path is None:
        cache_path = run_dir / "llm" / "cache.sqlite" if run_dir is not None else default_cache_path()
    return LiteLLMClient(
        model.strip(),
        api_base=api_base,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
        cache=ResponseCache(cache_path),
        calls_path=calls_path,
        budget=Budget(max_calls, max_cost, calls_path),
    )



def _connection_failure(exc: BaseException) -> BaseException | None:
    """The innermost connection error (refused, unreachable, DNS) behind `exc`, or None when a server answered."""
    found, seen = None, 0
    current: BaseException | None = exc
    while current is not None and seen < 16:  # the chain litellm -> openai -> httpx -> OSError, bounded
        if isinstance(current, OSError | httpx.ConnectError | httpx.ConnectTimeout):
            found = current
        current, seen = current.__cause__ or current.__context__, seen + 1
    return found
