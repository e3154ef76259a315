"""Load time and per-process memory: a built ``instruct`` config vs LLaVA's JSON file.

Writes an N-row (default 1,000,000) ``instruct`` config (text rows of 2-4 turns of about 40 words plus one tiny
shared image, stored as ``conversation`` shards that ``instruct`` selects with ``columns:``) and the same records
as one LLaVA JSON file. Then, each in a fresh process and measured from after the imports:

(a) ``json.load`` of the LLaVA JSON (what LLaVA's ``LazySupervisedDataset`` does on every start, in every rank);
(b) ``datasets.load_dataset(<folder>, "instruct")`` with the Arrow cache already prepared, ``len`` and 1,000
    random row reads.

The cold first load (preparing the cache) is timed separately. Memory is the process's anonymous memory
(``RssAnon``) after the work minus after the imports: memory-mapped files are shared between ranks and are not
what each rank pays. Prints one JSON line: ``speedup`` ((a) time / (b) time), ``rss_ratio`` ((b) anonymous memory
/ (a)), ``cold_s`` and the peak RSS of each process. Targets: speedup >= 10, rss_ratio <= 0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import json, os, random, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
mode, target, cache = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["HF_DATASETS_CACHE"] = cache
os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
import datasets
anon0 = status("RssAnon:")
start = time.perf_counter()
if mode == "json":
    with open(target) as fh:
        data = json.load(fh)
    n = len(data)
    rng = random.Random(0)
    rows = [data[rng.randrange(n)] for _ in range(1000)]
else:
    ds = datasets.load_dataset(target, "instruct", split="train")
    n = len(ds)
    rng = random.Random(0)
    rows = [ds[rng.randrange(n)] for _ in range(1000)]
elapsed = time.perf_counter() - start
print(json.dumps({"s": elapsed, "rows": n, "anon": status("RssAnon:") - anon0, "peak_rss": status("VmHWM:")}))
"""


def _words(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def write_inputs(root: Path, n_rows: int, seed: int = 0) -> tuple[Path, Path]:
    """Write the N-row build and the LLaVA JSON with the same records; return (folder, json file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from rsgpt4v.build import REPORT_NAME
    from rsgpt4v.card_yaml import metadata_yaml
    from rsgpt4v.schema import SOURCES, TASKS, features

    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(3000)] + "the a of in and with is are near some large small".split()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 60)).save(buf, format="PNG")
    image = buf.getvalue()
    folder = root / "build"
    (folder / "conversation").mkdir(parents=True)
    feats = features("conversation")
    shard_rows = 100_000
    n_shards = -(-n_rows // shard_rows)
    llava = []
    files = []
    for s in range(n_shards):
        rows = []
        for k in range(s * shard_rows, min(n_rows, (s + 1) * shard_rows)):
            turns = []
            for t in range(rng.randint(2, 4)):
                text = _words(rng, vocab, rng.randint(30, 50))
                turns.append(
                    {"from": "human" if t % 2 == 0 else "gpt", "value": ("<image>\n" if t == 0 else "") + text}
                )
            rid = f"synthetic/train/img{k}.png/conversation"
            llava.append({"id": rid, "image": f"img{k}.png", "conversations": turns})
            rows.append(
                {"id": rid, "image": {"bytes": image, "path": "img.png"}, "image_path": f"img{k}.png", "width": 8,
                 "height": 8, "source": SOURCES.index("synthetic"), "origin": "synthetic",
                 "task": TASKS.index("conversation"), "conversations": turns,
                 "turn_question_ids": [f"{rid}#{j}" for j in range(0, len(turns), 2)]}
            )  # fmt: skip
        name = f"conversation/train-{s:05d}-of-{n_shards:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=feats.arrow_schema), folder / name, row_group_size=1000)
        files.append(name)
    data_files = {"conversation": {"train": files}, "instruct": {"train": files}}
    counts = {"conversation": {"train": n_rows}, "instruct": {"train": n_rows}}
    (folder / "README.md").write_text(metadata_yaml(data_files, counts) + "\n# bench\n")
    (folder / REPORT_NAME).write_text(json.dumps({"rsgpt4v_version": "bench", "configs": counts}))
    json_path = root / "llava.json"
    with open(json_path, "w") as fh:
        json.dump(llava, fh)
    return folder, json_path


def _run(mode: str, target: Path, cache: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(target), str(cache)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        folder, json_path = write_inputs(root, args.rows)
        write_s = time.perf_counter() - t0
        cache = root / "cache"
        cold = _run("datasets", folder, cache)  # prepares the Arrow cache
        warm = _run("datasets", folder, cache)
        plain = _run("json", json_path, cache)
        assert warm["rows"] == plain["rows"] == args.rows
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "speedup": round(plain["s"] / warm["s"], 2),
                    "rss_ratio": round(max(warm["anon"], 0) / plain["anon"], 4),
                    "cold_s": round(cold["s"], 2),
                    "json_load_s": round(plain["s"], 3),
                    "datasets_load_s": round(warm["s"], 3),
                    "json_anon_mb": round(plain["anon"] / 2**20, 1),
                    "datasets_anon_mb": round(warm["anon"] / 2**20, 1),
                    "json_peak_rss_mb": round(plain["peak_rss"] / 2**20, 1),
                    "datasets_peak_rss_mb": round(warm["peak_rss"] / 2**20, 1),
                    "json_file_mb": round(os.path.getsize(json_path) / 2**20, 1),
                    "write_s": round(write_s, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
