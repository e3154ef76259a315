"""A loopback OpenAI-compatible ``/v1/chat/completions`` server for tests and benchmarks, run in its own process.

Replies are deterministic and valid for the rsgpt4v generation stages (it reads the stage from the request's JSON
schema name and the details it needs from the prompt). Faults are injected on demand with ``POST /control``:
``{"latency": 0.2, "rules": [{"fault": "429", "count": 2, "match": "rsgpt4v_local", "retry_after": 1}]}``; each
rule applies to the next ``count`` requests whose body contains ``match`` (any request when omitted). Faults:

* ``429``: status 429 with ``Retry-After: <retry_after>``.
* ``500``: status ``status`` (default 500); with ``echo`` the error message repeats the ``Authorization`` header.
* ``slow``: the reply comes after ``delay`` seconds (beyond the client's timeout).
* ``truncated``: the body is cut in the middle and the connection closed.
* ``malformed``: status 200 with a body that is not JSON.
* ``content``: a normal envelope whose message content is ``content`` (malformed or schema-invalid JSON), with
  ``finish_reason`` ``finish`` (default ``stop``).

``GET /stats`` returns the request count, the most requests seen in flight, the ``Authorization`` headers seen,
the faults applied, and a log of ``[stage, image digest, time]`` per request; ``POST /reset`` clears them.

Run: ``python tests/generate/fake_server.py [--latency S]``; it prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import time

from aiohttp import web

_TURNS = re.compile(r"exactly (\d+) question-and-answer turns")


class FakeServer:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.rules: list[dict] = []
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: set[str] = set()
        self.applied: dict[str, int] = {}
        self.log: list[list] = []

    def _take_rule(self, body: str) -> dict | None:
        for rule in self.rules:
            if rule.get("count", 1) > 0 and rule.get("match", "") in body:
                rule["count"] = rule.get("count", 1) - 1
                self.applied[rule["fault"]] = self.applied.get(rule["fault"], 0) + 1
                return rule
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = raw.decode()
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if auth := request.headers.get("Authorization"):
                self.auth.add(auth)
            payload = json.loads(body)
            stage = _stage(payload)
            self.log.append([stage, _image_digest(payload), time.time()])
            rule = self._take_rule(body)
            fault = rule["fault"] if rule else None
            if fault == "slow":
                await asyncio.sleep(rule.get("delay", 5.0))
            elif self.latency:
                await asyncio.sleep(self.latency)
            if fault == "429":
                return web.json_response(
                    {"error": {"message": "rate limited", "type": "rate_limit"}},
                    status=429,
                    headers={"Retry-After": str(rule.get("retry_after", 1))},
                )
            if fault == "500":
                message = f"internal error ({request.headers.get('Authorization')})" if rule.get("echo") else "error"
                return web.json_response({"error": {"message": message}}, status=rule.get("status", 500))
            if fault == "malformed":
                return web.Response(text="<html>502 Bad Gateway</html>", content_type="application/json")
            content = rule["content"] if fault == "content" else _reply(stage, payload)
            finish = rule.get("finish", "stop") if fault == "content" else "stop"
            data = json.dumps(
                {
                    "id": f"chatcmpl-{self.requests}",
                    "object": "chat.completion",
                    "model": payload.get("model"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                    ],
                    "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": len(content) // 4},
                }
            ).encode()
            if fault == "truncated":
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                response.content_length = len(data)
                await response.prepare(request)
                await response.write(data[: len(data) // 2])
                request.transport.close()
                return response
            return web.Response(body=data, content_type="application/json")
        finally:
            self.in_flight -= 1

    async def control(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "latency" in data:
            self.latency = float(data["latency"])
        if "rules" in data:
            self.rules = list(data["rules"])
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": self.requests,
                "max_in_flight": self.max_in_flight,
                "auth": sorted(self.auth),
                "applied": self.applied,
                "log": self.log,
            }
        )

    async def reset_handler(self, request: web.Request) -> web.Response:
        self.reset()
        self.rules = []
        return web.json_response({"ok": True})


def _stage(payload: dict) -> str:
    name = ((payload.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    return name.removeprefix("rsgpt4v_") or "unknown"


def _image_digest(payload: dict) -> str:
    for message in payload.get("messages", []):
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    return hashlib.sha1(part["image_url"]["url"].encode()).hexdigest()[:12]
    return ""


def _prompt(payload: dict) -> str:
    for message in payload.get("messages", []):
        if message.get("role") == "user" and isinstance(message.get("content"), list):
            return next(p["text"] for p in message["content"] if p.get("type") == "text")
    return ""


def _reply(stage: str, payload: dict) -> str:
    prompt = _prompt(payload)
    if stage == "local":
        lines = prompt.split("Existing annotations (category: bounding box):\n", 1)[1].split("\n\n", 1)[0]
        annotations = [line[2:].split(": ", 1) for line in lines.splitlines() if line.startswith("- ")]
        if not annotations:
            example = prompt.split("for example ", 1)[1].split("\n", 1)[0].rstrip(".")
            annotations = [["building", example]]
        objects = [
            {"category": c, "bbox": b, "description": f"A grey rectangular {c} with a flat surface, object {k + 1}."}
            for k, (c, b) in enumerate(annotations)
        ]
        relations = [f"The {objects[0]['category']} lies near the centre of the scene."]
        return json.dumps({"objects": objects, "relations": relations})
    if stage == "global":
        count = prompt.split("Spatial relations:")[0].count("\n- ")
        words = (
            f"An overhead remote sensing scene with {count} described objects arranged along a straight road. "
            "The buildings have flat grey roofs, the surrounding land is covered by green vegetation and bare soil, "
            "and the layout suggests a small facility that serves the nearby transport corridor."
        )
        return json.dumps({"description": words})
    if stage == "conversation":
        turns = int(_TURNS.search(prompt).group(1))
        schema = payload["response_format"]["json_schema"]["schema"]
        kinds = schema["properties"]["turns"]["items"]["properties"]["type"]["enum"]
        items = [
            {
                "type": kinds[k % len(kinds)],
                "question": f"Question {k + 1}: what can you tell about the {kinds[k % len(kinds)]} of this scene?",
                "answer": f"Answer {k + 1}: the scene shows flat-roofed buildings beside a road.",
            }
            for k in range(turns)
        ]
        return json.dumps({"turns": items})
    return json.dumps({"reply": "hello"})


def make_app(latency: float = 0.0) -> web.Application:
    server = FakeServer(latency)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_post("/control", server.control)
    app.router.add_get("/stats", server.stats)
    app.router.add_post("/reset", server.reset_handler)
    return app


async def _serve(port: int, latency: float) -> None:
    runner = web.AppRunner(make_app(latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    print(f"PORT {site._server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.port, args.latency))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
