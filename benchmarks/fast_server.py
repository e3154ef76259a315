"""A lean loopback chat-completions server for the throughput benchmark: fixed latency, no faults.

It answers like ``tests/generate/fake_server.py`` (whose reply builder it reuses) but speaks HTTP/1.1 keep-alive
directly on an ``asyncio.Protocol``, so the harness spends as little as possible of the machine's CPU that the client
under test needs. Run: ``python benchmarks/fast_server.py --latency 0.2``; it prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "rsgpt4v_fake_server", Path(__file__).resolve().parent.parent / "tests" / "generate" / "fake_server.py"
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)


class _Http(asyncio.Protocol):
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            asyncio.get_running_loop().call_later(self.latency, self._respond, body)

    def _respond(self, body: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        payload = json.loads(body)
        content = fake._reply(fake._stage(payload), payload)
        data = json.dumps(
            {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": len(content) // 4},
            }
        ).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        self.transport.write(head.encode() + data)


async def _serve(latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(latency), "127.0.0.1", 0, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    asyncio.run(_serve(parser.parse_args().latency))


if __name__ == "__main__":
    main()
