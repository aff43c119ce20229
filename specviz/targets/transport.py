"""One ``/v1/completions`` call through the openai SDK, with bounded, recorded retries.

The SDK's own retries are off (``max_retries=0``) so that every retry is visible to the
caller, which records it as an ``error`` event with ``retryable=True``. The body is parsed
here rather than by the SDK's pydantic models: servers add their own fields (mlx_lm.server
puts chat-style ``logprobs.content`` into text completions) and every number is checked
later anyway, so the raw JSON is what we want.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

import openai

from specviz.targets.errors import MalformedResponse, TargetUnavailable
from specviz.targets.secrets import safe_url, scrub

# Answered server errors that say "not like this" to a probe (llama-cpp-python answers a
# token-id prompt with 500); 502-504 come from proxies and loading servers and may pass.
NOT_THIS_WAY = {500, 501}
# (attempt that failed, 1-based; scrubbed message; seconds until the next attempt)
RetryHook = Callable[[int, str, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts, 429, 5xx and connection errors are retried up to ``attempts`` tries in all."""

    attempts: int = 4
    timeout_s: float = 60.0
    backoff_s: float = 0.5  # before the 2nd try; doubles each time
    max_backoff_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        # A server that says when to come back is believed, within the same bound.
        return min(self.max_backoff_s, max(base, retry_after or 0.0))


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _describe(exc: openai.APIError) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIStatusError):
        body = exc.response.text[:300].strip()
        return f"HTTP {exc.status_code}" + (f": {body}" if body else "")
    return f"connection error: {exc}"


class CompletionsClient:
    """Posts completion requests to one server and returns the decoded JSON object."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = safe_url(base_url)
        self.policy = policy
        self._key = api_key
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=policy.timeout_s
        )

    def list_models(self) -> list[str]:
        """Model ids from ``GET /models``; [] when the server has no usable list.

        Best effort by design (mlx_lm.server 0.32 answers 200 with an empty body when it has
        no Hugging Face cache), so any failure means "no list", never a failed run.
        """
        try:
            page = self._client.models.list(timeout=min(self.policy.timeout_s, 10.0))
            return [m.id for m in page.data if isinstance(getattr(m, "id", None), str)]
        except Exception:
            return []

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: str) -> str:
        return scrub(text, self._key)

    def create(self, on_retry: RetryHook | None = None, *, probing: bool = False, **params: Any) -> dict[str, Any]:
        """``probing``: an answered 500/501 is final (the probe's "not this way"), not retried."""
        for attempt in range(1, self.policy.attempts + 1):
            try:
                raw = self._client.completions.with_raw_response.create(**params)
                return self._decode(raw.content)
            except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                    openai.InternalServerError) as exc:
                message = self.scrub(_describe(exc))
                final = probing and isinstance(exc, openai.APIStatusError) and exc.status_code in NOT_THIS_WAY
                if final or attempt == self.policy.attempts:
                    status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
                    tries = "" if final else f"; gave up after {attempt} attempts"
                    raise TargetUnavailable(f"{self.base_url}: {message}{tries}", status=status) from None
                retry_after = _retry_after(exc) if isinstance(exc, openai.APIStatusError) else None
                delay = self.policy.delay(attempt, retry_after)
                if on_retry is not None:
                    on_retry(attempt, message, delay)
                self._sleep(delay)
            except openai.APIStatusError as exc:
                # 4xx other than 429: the request itself is wrong; trying again cannot help.
                raise TargetUnavailable(
                    f"{self.base_url}: {self.scrub(_describe(exc))}", status=exc.status_code
                ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _decode(self, content: bytes) -> dict[str, Any]:
        try:
            body = json.loads(content)
        except ValueError:
            snippet = self.scrub(content[:200].decode("utf-8", "replace"))
            raise MalformedResponse(
                f"{self.base_url}: the reply is not JSON (first bytes: {snippet!r})"
            ) from None
        if not isinstance(body, dict):
            raise MalformedResponse(f"{self.base_url}: the reply is JSON but not an object")
        if "choices" not in body and "error" in body:
            # Some proxies report a failure inside a 200 reply; say what they said.
            error = body["error"]
            detail = error.get("message", error) if isinstance(error, dict) else error
            raise MalformedResponse(f"{self.base_url}: the server answered with an error: {self.scrub(str(detail))[:300]}")
        return body
