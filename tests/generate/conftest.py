"""Fixtures of the generation tests: the loopback chat-completions server (own process) and small images."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("fake_server.py")


class ServerHandle:
    """Talk to the fake server process: its base URL, fault control, statistics."""

    def __init__(self, port: int) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/v1"

    def _call(self, path: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.root + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def control(self, rules: list[dict] | None = None, latency: float | None = None) -> None:
        payload: dict = {}
        if rules is not None:
            payload["rules"] = rules
        if latency is not None:
            payload["latency"] = latency
        self._call("/control", payload)

    def stats(self) -> dict:
        return self._call("/stats")

    def reset(self) -> None:
        self._call("/reset", {})
        self.control(latency=0.0)


def start_server(latency: float = 0.0) -> tuple[subprocess.Popen, int]:
    """Start the fake server in its own process; return it and its port."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--latency", str(latency)], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, int(line.split()[1])


@pytest.fixture(scope="session")
def _server_process():
    proc, port = start_server()
    yield ServerHandle(port)
    proc.kill()
    proc.wait()


@pytest.fixture
def server(_server_process):
    _server_process.reset()
    return _server_process


def _make_images(folder: Path, n: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """Write ``n`` distinct small PNGs into ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"img_{k:03d}.png"
        Image.new("RGB", size, (k * 37 % 256, k * 91 % 256, 120)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def make_images():
    return _make_images
