"""Demo latency through gradio_client: Explore record render p50/p95 over 200 records, Ask with the tiny model.

Launches the default offline demo (``build_demo()``: the synthetic sample from the cache folder, built on first
run, and the tiny untrained model) on loopback and times, after one warm-up call each:

- Explore: ``/record`` for 200 consecutive VQA train records (decode the row, draw boxes, write the display
  image, send it, and the client downloads it). Baselines: a no-op endpoint added for this benchmark (same
  transport: unqueued HTTP through gradio_client), the floor any endpoint pays on this machine
  (``explore_over_noop_ratio``); and the same 200 renders in-process (``Explorer.render``).
- Ask: ``/ask`` VQA questions about dataset records (``--asks`` of them, 24 new tokens, streamed). Baseline: the
  same questions answered in-process by ``Predictor.ask``.

Prints one JSON line with ``explore_p50_ms``, ``explore_p95_ms``, ``ask_p50_ms`` and the baselines as ratios.
Target: ``explore_p95_ms`` < 200 on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

TARGET_EXPLORE_P95_MS = 200.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _timed(fn, n: int) -> list[float]:
    times = []
    for k in range(n):
        start = time.perf_counter()
        fn(k)
        times.append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--asks", type=int, default=20)
    args = parser.parse_args()

    with contextlib.redirect_stdout(sys.stderr):
        import gradio as gr
        from gradio_client import Client

        from rsgpt4v import prompts
        from rsgpt4v.demo import build_demo
        from rsgpt4v.demo.explore import Explorer
        from rsgpt4v.demo.settings import ensure_sample

        demo = build_demo()
        with demo:
            noop = gr.Textbox(visible=False)
            noop.submit(lambda text: text, noop, noop, api_name="bench_noop", queue=False)
        _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        client = Client(url, verbose=False)
        explorer = Explorer(str(ensure_sample()))
        entries = explorer.index("vqa", "train")
        n = min(args.records, len(entries))

        client.predict("vqa", "train", "all", "all", 1, api_name="/record")
        explore = _timed(lambda k: client.predict("vqa", "train", "all", "all", k + 1, api_name="/record"), n)
        client.predict("x", api_name="/bench_noop")
        floor = _timed(lambda k: client.predict("x", api_name="/bench_noop"), n)
        in_process = _timed(lambda k: explorer.render("vqa", "train", k), n)

        question = "Is there a building?"
        asked = [entries[(k * 37) % len(entries)].question_id for k in range(args.asks)]
        client.predict(None, asked[0], "VQA", question, [], api_name="/ask")
        ask = _timed(lambda k: client.predict(None, asked[k], "VQA", question, [], api_name="/ask"), args.asks)

        from rsgpt4v.inference import Predictor
        from rsgpt4v.tiny_model import tiny_llava

        model, processor = tiny_llava(image_size=32, seed=0)
        predictor = Predictor(model, processor=processor, device="cpu", max_new_tokens=24)
        prompt = prompts.instruction("vqa", question=question)
        images = [explorer.render(*explorer.locate_image(q)).item["image"].convert("RGB") for q in asked]
        direct = _timed(lambda k: predictor.ask(images[k], prompt), args.asks)
        demo.close()

    explore_p95 = _quantile(explore, 0.95)
    print(
        json.dumps(
            {
                "benchmark": "space",
                "records": n,
                "explore_p50_ms": round(statistics.median(explore), 1),
                "explore_p95_ms": round(explore_p95, 1),
                "explore_target_p95_ms": TARGET_EXPLORE_P95_MS,
                "explore_meets_target": explore_p95 < TARGET_EXPLORE_P95_MS,
                "baseline_client_noop_p50_ms": round(statistics.median(floor), 1),
                "baseline_client_noop_p95_ms": round(_quantile(floor, 0.95), 1),
                "explore_over_noop_ratio": round(statistics.median(explore) / statistics.median(floor), 2),
                "baseline_in_process_render_p50_ms": round(statistics.median(in_process), 1),
                "asks": args.asks,
                "ask_p50_ms": round(statistics.median(ask), 1),
                "ask_p95_ms": round(_quantile(ask, 0.95), 1),
                "baseline_predictor_ask_p50_ms": round(statistics.median(direct), 1),
                "ask_overhead_ratio": round(statistics.median(ask) / statistics.median(direct), 2),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
