"""Generation throughput against a loopback chat-completions server with a fixed latency.

For each concurrency level the full pipeline runs (prompt rendering, HTTP, reply validation and the job store's
writes) against a loopback server in its own process (``benchmarks/fast_server.py``; ``--server aiohttp`` for the
tests' fault-injecting server), with the rate limiter off and 64x64 PNG images written once. After a warm-up,
finished requests are counted over a window of at least ``--duration`` seconds and compared with the theoretical
maximum ``concurrency / latency``. Prints one JSON line: ``{"efficiency_c8": ..., "efficiency_c32": ...,
"efficiency_c128": ..., ...}`` (achieved / theoretical; target 0.9), with the CPU milliseconds per request of the
client and the server and the machine's load.

Run: ``python benchmarks/bench_generate.py [--duration 20] [--warmup 3] [--latency 0.2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rsgpt4v.generate import ChatClient, ClientConfig, GenerationConfig, ImageItem, JobStore, Pipeline, Prices

SERVERS = {
    "fast": Path(__file__).resolve().parent / "fast_server.py",
    "aiohttp": Path(__file__).resolve().parent.parent / "tests" / "generate" / "fake_server.py",
}


def _images(folder: Path, count: int) -> list[ImageItem]:
    from PIL import Image

    files = []
    for k in range(16):  # encoded once, shared by the image items
        path = folder / f"tile_{k}.png"
        Image.new("RGB", (64, 64), (k * 15, 255 - k * 15, 90)).save(path)
        files.append(str(path))
    annotation = [{"category": "storage tank", "bbox": [8.0, 8.0, 40.0, 40.0]}]
    return [
        ImageItem("custom", "train", f"bench/{k:06d}.png", files[k % len(files)], 64, 64, list(annotation))
        for k in range(count)
    ]


def _level(base_url: str, concurrency: int, latency: float, warmup: float, duration: float, folder: Path) -> dict:
    expected = concurrency / latency * (warmup + duration) * 1.5
    items = _images(folder, math.ceil(expected / 3) + concurrency)
    stamps: list[float] = []
    with JobStore(folder / f"store_c{concurrency}.sqlite") as store:
        store.add_images(items)
        run_id = store.start_run("bench", base_url, Prices())

        async def main() -> float:
            config = ClientConfig(base_url, "bench", concurrency=concurrency, timeout=30, max_retries=0)
            async with ChatClient(config) as client:
                pipeline = Pipeline(
                    client, store, GenerationConfig(turns=3), on_stage=lambda *_: stamps.append(time.monotonic())
                )
                task = asyncio.ensure_future(pipeline.run(run_id, pipeline.todo()))
                start = time.monotonic()
                while time.monotonic() - start < warmup + duration + 0.5 and not task.done():
                    await asyncio.sleep(0.1)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                return start

        start = asyncio.run(main())
        failed = store.summary(run_id).failed
    lo, hi = start + warmup, start + warmup + duration
    achieved = sum(lo <= t < hi for t in stamps) / duration
    return {"achieved": achieved, "theoretical": concurrency / latency, "failed": failed, "requests": len(stamps)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default 0.2)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per level (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default 3)")
    parser.add_argument("--levels", default="8,32,128", help="concurrency levels (default 8,32,128)")
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="fast",
        help="fast: benchmarks/fast_server.py (lean asyncio protocol); aiohttp: the tests' fault-injecting server",
    )
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(SERVERS[args.server]), "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline().split()[1])
        result: dict = {
            "benchmark": "generate",
            "server": args.server,
            "latency_s": args.latency,
            "duration_s": args.duration,
        }
        with tempfile.TemporaryDirectory() as tmp:
            for level in (int(c) for c in args.levels.split(",")):
                folder = Path(tmp) / f"c{level}"
                folder.mkdir()
                server_cpu, client_cpu = _cpu_seconds(server.pid), time.process_time()
                stats = _level(f"http://127.0.0.1:{port}/v1", level, args.latency, args.warmup, args.duration, folder)
                per_request = 1000 / max(stats["requests"], 1)
                result[f"client_cpu_ms_per_request_c{level}"] = round(
                    (time.process_time() - client_cpu) * per_request, 3
                )
                result[f"server_cpu_ms_per_request_c{level}"] = round(
                    (_cpu_seconds(server.pid) - server_cpu) * per_request, 3
                )
                result[f"efficiency_c{level}"] = round(stats["achieved"] / stats["theoretical"], 4)
                result[f"rps_c{level}"] = round(stats["achieved"], 1)
                result[f"failed_c{level}"] = stats["failed"]
        result["target"] = 0.9
        result["cpus"] = os.cpu_count()
        result["loadavg_1m"] = os.getloadavg()[0]
        print(json.dumps(result))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
