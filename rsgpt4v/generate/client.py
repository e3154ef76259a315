"""An asyncio client for any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, SGLang, Ollama, ...).

Built on ``aiohttp`` with one connection pool sized to the concurrency. It bounds the requests in flight, applies an
optional requests/tokens-per-minute limit, retries 429, 5xx, timeouts, dropped connections and malformed bodies with
exponential backoff and jitter (a ``Retry-After`` from the server wins and pauses every request of the client), and
never writes the API key anywhere: it is kept out of ``repr``, logs, errors and the job store.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import json
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsgpt4v.generate.limiter import RateLimiter

__all__ = [
    "APIError",
    "ChatClient",
    "ClientConfig",
    "Completion",
    "image_data_url",
    "resolve_api_key",
    "resolve_base_url",
]

logger = logging.getLogger(__name__)

#: Environment variables read for the API key, first one set wins.
API_KEY_ENV = ("RSGPT4V_API_KEY", "OPENAI_API_KEY")
#: Environment variable read for the base URL when none is given.
BASE_URL_ENV = "OPENAI_BASE_URL"
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_MIME = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


class APIError(RuntimeError):
    """A request failed for good: a non-retryable status, or retries exhausted.

    Attributes:
        status: the last HTTP status, or None when the last attempt got no response (timeout, dropped connection).
        attempts: how many attempts were made.
    """

    def __init__(self, message: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class _Retryable(Exception):
    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


def resolve_api_key(api_key: str | None = None) -> str | None:
    """Return ``api_key`` if given, else ``$RSGPT4V_API_KEY``, else ``$OPENAI_API_KEY``, else None (no auth)."""
    if api_key:
        return api_key
    return next((os.environ[name] for name in API_KEY_ENV if os.environ.get(name)), None)


def resolve_base_url(base_url: str | None = None) -> str:
    """Return the base URL from the option, else ``$OPENAI_BASE_URL``.

    Raises:
        ValueError: if neither is set.
    """
    url = base_url or os.environ.get(BASE_URL_ENV)
    if not url:
        raise ValueError(
            "No endpoint given: pass --endpoint (e.g. https://api.openai.com/v1 or http://localhost:8000/v1) "
            f"or set ${BASE_URL_ENV}."
        )
    return url


@dataclass
class ClientConfig:
    """Where and how to send chat-completion requests.

    Args:
        base_url: the API base (``.../v1``) or the full ``.../chat/completions`` URL.
        model: the model name sent with every request.
        api_key: bearer token; None reads ``$RSGPT4V_API_KEY`` then ``$OPENAI_API_KEY`` (local servers need none).
        concurrency: requests in flight at most; also the connection pool size.
        timeout: seconds for one attempt (connect + response), after which it is retried.
        max_retries: retries after the first attempt for 429, 5xx, timeouts, dropped connections, malformed bodies.
        backoff_base: first backoff in seconds; doubled per retry, with jitter in [0.5, 1.5) of the value.
        backoff_max: the longest backoff in seconds.
        rpm: requests per minute limit, or None.
        tpm: tokens per minute limit, or None (estimated before sending, settled with the real usage).
        image_tokens: tokens assumed per image when estimating a request for the TPM limit.
        extra_headers: more HTTP headers to send (e.g. an organisation header).
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    rpm: float | None = None
    tpm: float | None = None
    image_tokens: int = 800
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.api_key = resolve_api_key(self.api_key)
        if self.concurrency < 1:
            raise ValueError(f"`concurrency` must be at least 1, got {self.concurrency!r}.")
        if self.timeout <= 0:
            raise ValueError(f"`timeout` must be positive seconds, got {self.timeout!r}.")
        if self.max_retries < 0:
            raise ValueError(f"`max_retries` must be 0 or more, got {self.max_retries!r}.")

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"


@dataclass
class Completion:
    """One successful chat completion."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    attempts: int


def image_data_url(image: str | Path | bytes) -> str:
    """Encode an image as a ``data:`` URL; PNG, JPEG and GIF pass through, other formats are converted to PNG.

    Args:
        image: a file path or the file's bytes.
    """
    data = Path(image).read_bytes() if isinstance(image, (str, Path)) else image
    mime = next((m for magic, m in _MIME.items() if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:  # TIFF, BMP, ...: most endpoints accept only PNG/JPEG/GIF/WebP.
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            buf = io.BytesIO()
            img.convert("RGB" if img.mode not in ("RGB", "RGBA", "L") else img.mode).save(buf, format="PNG")
        data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _retry_after(headers: Any) -> float | None:
    if value := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return None if when is None else max(0.0, when.timestamp() - time.time())


class ChatClient:
    """Send chat-completion requests with bounded concurrency, rate limits and retries.

    Use as an async context manager (it owns an ``aiohttp`` session)::

        async with ChatClient(ClientConfig("http://localhost:8000/v1", "Qwen/Qwen2.5-VL-7B-Instruct")) as client:
            completion = await client.complete([{"role": "user", "content": "Hello"}])

    Args:
        config: the endpoint and limits.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.limiter = RateLimiter(config.rpm, config.tpm)
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._session: Any = None
        self._cooldown_until = 0.0

    def __repr__(self) -> str:
        return f"ChatClient(url={self.config.url!r}, model={self.config.model!r})"

    async def __aenter__(self) -> ChatClient:
        import aiohttp

        headers = {"Content-Type": "application/json", **self.config.extra_headers}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        connector = aiohttp.TCPConnector(limit=self.config.concurrency, limit_per_host=self.config.concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=self.config.timeout)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()
        self._session = None

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "***") if key else text

    def estimate_tokens(self, messages: list[dict[str, Any]], max_tokens: int) -> int:
        """Estimate a request's tokens (text at 4 characters a token, images at ``image_tokens``) for the TPM limit."""
        chars, images = 0, 0
        for message in messages:
            content = message["content"]
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts:
                if part.get("type") == "image_url":
                    images += 1
                else:
                    chars += len(part.get("text", ""))
        return chars // 4 + images * self.config.image_tokens + max_tokens

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int = 1024,
        temperature: float = 0.2,
        response_format: dict[str, Any] | None = None,
    ) -> Completion:
        """Send one chat completion and return its first choice, retrying transient failures.

        Args:
            messages: OpenAI chat messages (content as a string or a list of text / image_url parts).
            max_tokens: the completion budget.
            temperature: sampling temperature.
            response_format: e.g. ``{"type": "json_object"}`` or a ``json_schema`` format; None sends none.

        Raises:
            APIError: on a non-retryable status (400, 401, 404, ...) or when retries are exhausted.
        """
        if self._session is None:
            raise RuntimeError("ChatClient must be used inside `async with ChatClient(config) as client:`.")
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if response_format is not None:
            payload["response_format"] = response_format
        body = json.dumps(payload).encode()
        estimate = self.estimate_tokens(messages, max_tokens)
        attempts = self.config.max_retries + 1
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire(estimate)
            try:
                async with self._semaphore:
                    await self._wait_cooldown()  # after a 429 with Retry-After, every request waits it out
                    completion = await self._attempt(body, attempt)
            except _Retryable as err:
                if err.status is not None:
                    self.limiter.settle(estimate, 0)  # the server refused the request: nothing was consumed
                if attempt == attempts:
                    raise APIError(
                        f"{self.config.url}: giving up after {attempts} attempts; last error: {err}",
                        status=err.status,
                        attempts=attempt,
                    ) from None
                delay = self._backoff(attempt, err.retry_after)
                logger.warning("attempt %d/%d failed (%s); retrying in %.2f s", attempt, attempts, err, delay)
                await asyncio.sleep(delay)
                continue
            self.limiter.settle(estimate, completion.prompt_tokens + completion.completion_tokens)
            return completion

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            self._cooldown_until = max(self._cooldown_until, time.monotonic() + retry_after)
            return retry_after * random.uniform(1.0, 1.1)
        return min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)

    async def _wait_cooldown(self) -> None:
        delay = self._cooldown_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _attempt(self, body: bytes, attempt: int) -> Completion:
        import aiohttp

        try:
            async with self._session.post(self.config.url, data=body) as response:
                raw = await response.read()
                status = response.status
                headers = response.headers
        except asyncio.TimeoutError:
            raise _Retryable(f"no response within {self.config.timeout:g} s") from None
        except aiohttp.ClientError as err:
            raise _Retryable(f"connection error: {type(err).__name__}: {self._redact(str(err))}") from None
        if status != 200:
            detail = self._redact(raw[:300].decode("utf-8", "replace"))
            if status in _RETRY_STATUS:
                raise _Retryable(f"HTTP {status}: {detail}", status=status, retry_after=_retry_after(headers))
            raise APIError(f"{self.config.url}: HTTP {status}: {detail}", status=status, attempts=attempt)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            content = choice["message"]["content"]
            if not isinstance(content, str):
                raise TypeError(f"message content is {type(content).__name__}, not a string")
        except (ValueError, KeyError, IndexError, TypeError) as err:
            snippet = self._redact(raw[:120].decode("utf-8", "replace"))
            raise _Retryable(f"malformed response body ({type(err).__name__}: {err}): {snippet!r}") from None
        usage = data.get("usage") or {}
        return Completion(
            content=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
            attempts=attempt,
        )
