from __future__ import annotations

import asyncio
import time

import pytest

from rsgpt4v.generate.client import APIError, ChatClient, ClientConfig, image_data_url

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]


def _complete(config: ClientConfig, n: int = 1, messages=MESSAGES):
    async def main():
        async with ChatClient(config) as client:
            return await asyncio.gather(*(client.complete(messages) for _ in range(n)), return_exceptions=True)

    return asyncio.run(main())


def _config(server, **kw):
    kw.setdefault("backoff_base", 0.01)
    return ClientConfig(server.base_url, "fake", **kw)


def test_success_returns_content_and_usage(server):
    (completion,) = _complete(_config(server))
    assert completion.content == '{"reply": "hello"}'
    assert completion.attempts == 1 and completion.finish_reason == "stop"
    assert completion.prompt_tokens > 0 and completion.completion_tokens == len(completion.content) // 4


def test_429_honours_retry_after(server):
    server.control(rules=[{"fault": "429", "retry_after": 1, "count": 1}])
    start = time.monotonic()
    (completion,) = _complete(_config(server))
    assert time.monotonic() - start >= 1.0
    assert completion.attempts == 2 and server.stats()["applied"] == {"429": 1}


def test_429_pauses_every_request_of_the_client(server):
    server.control(rules=[{"fault": "429", "retry_after": 1, "count": 1}], latency=0.05)
    config = _config(server, concurrency=1)
    start = time.monotonic()
    results = _complete(config, n=3)
    assert all(r.content for r in results)
    log = server.stats()["log"]
    # the three requests after the 429 all start at least Retry-After later
    assert all(t - log[0][2] >= 0.95 for *_, t in log[1:])
    assert time.monotonic() - start >= 1.0


def test_5xx_retried_with_backoff(server):
    server.control(rules=[{"fault": "500", "count": 2}, {"fault": "500", "status": 503, "count": 1}])
    (completion,) = _complete(_config(server))
    assert completion.attempts == 4 and server.stats()["applied"] == {"500": 3}


def test_timeout_retried(server):
    server.control(rules=[{"fault": "slow", "delay": 2.0, "count": 1}])
    start = time.monotonic()
    (completion,) = _complete(_config(server, timeout=0.3))
    assert completion.attempts == 2
    assert 0.3 <= time.monotonic() - start < 1.9  # the slow reply (2 s) was not waited for


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
def test_broken_bodies_retried(server, fault):
    server.control(rules=[{"fault": fault, "count": 1}])
    (completion,) = _complete(_config(server))
    assert completion.attempts == 2 and completion.content == '{"reply": "hello"}'


def test_retries_exhausted_raise_with_the_last_error(server):
    server.control(rules=[{"fault": "500", "count": 10}])
    (error,) = _complete(_config(server, max_retries=2))
    assert isinstance(error, APIError)
    assert error.status == 500 and error.attempts == 3
    assert "giving up after 3 attempts; last error: HTTP 500" in str(error)


def test_client_errors_are_not_retried(server):
    server.control(rules=[{"fault": "500", "status": 401, "count": 10}])
    (error,) = _complete(_config(server))
    assert isinstance(error, APIError) and error.status == 401 and error.attempts == 1
    assert server.stats()["requests"] == 1


def test_concurrency_bounds_requests_in_flight(server):
    server.control(latency=0.2)
    start = time.monotonic()
    results = _complete(_config(server, concurrency=4), n=16)
    elapsed = time.monotonic() - start
    assert all(r.attempts == 1 for r in results)
    assert server.stats()["max_in_flight"] == 4
    assert 0.8 <= elapsed < 3.0


def test_rpm_limit_spaces_requests(server):
    # 600 rpm = 10 per second with a one-second burst of 10: 25 requests need at least 1.5 s
    start = time.monotonic()
    results = _complete(_config(server, concurrency=25, rpm=600), n=25)
    assert len(results) == 25 and all(r.attempts == 1 for r in results)
    assert time.monotonic() - start >= 1.4
    times = sorted(t for *_, t in server.stats()["log"])
    assert times[-1] - times[0] >= 1.0  # the 15 requests after the burst arrive at 10 per second


def test_tpm_limit_spaces_requests(server):
    config = _config(server, concurrency=8, tpm=6000)  # 100 tokens/s; each request estimates ~1025 tokens
    start = time.monotonic()
    _complete(config, n=2)
    # the first request empties the bucket; the second waits for it to refill from the settled (small) real usage
    elapsed = time.monotonic() - start
    assert 0.2 < elapsed < 3


def test_no_limit_means_no_wait(server):
    start = time.monotonic()
    _complete(_config(server, concurrency=16), n=32)
    assert time.monotonic() - start < 5


def test_usage_outside_context_is_an_error():
    client = ChatClient(ClientConfig("http://127.0.0.1:9/v1", "m"))
    with pytest.raises(RuntimeError, match="async with ChatClient"):
        asyncio.run(client.complete(MESSAGES))


def test_config_validation_and_url():
    assert ClientConfig("http://h:1/v1/", "m").url == "http://h:1/v1/chat/completions"
    assert ClientConfig("http://h:1/v1/chat/completions", "m").url == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError, match="`concurrency` must be at least 1, got 0"):
        ClientConfig("http://h/v1", "m", concurrency=0)


def test_image_data_url(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.tif")
    assert image_data_url(tmp_path / "a.png").startswith("data:image/png;base64,iVBOR")
    assert image_data_url(tmp_path / "a.tif").startswith("data:image/png;base64,iVBOR")  # TIFF converted
    Image.new("RGB", (4, 4)).save(tmp_path / "a.jpg")
    assert image_data_url((tmp_path / "a.jpg").read_bytes()).startswith("data:image/jpeg;base64,/9j/")
