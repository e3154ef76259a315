"""Build throughput on an RSVQA-HR-shaped source against the ``json.load`` floor of the same files.

Synthesises an RSVQA-HR layout (``USGS_split_train_{images,questions,answers}.json`` + ``Data/<id>.tif``) with
N questions (default 1,000,000) over M tiny images (default 10,000), then, in one run:

- the floor: ``json.load`` of the three split files (fresh process);
- the whole build with one worker (parse, adapt, write Arrow, embed images; fresh process), with its peak RSS;
- the build with two workers, to compare the stages after parsing (adapt, encode, write).

Prints one JSON line with ``records_per_s`` (questions per second, one worker), ``floor_ratio`` (build time /
``json.load`` time), ``peak_rss_gb`` and ``workers2_speedup`` (post-parse stages, 1 worker / 2 workers).
Targets: records_per_s >= 50,000, floor_ratio <= 3, peak_rss_gb < 2, workers2_speedup >= 1.6.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
mode, root, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "floor":
    start = time.perf_counter()
    for kind in ("images", "questions", "answers"):
        with open(f"{root}/USGS_split_train_{kind}.json") as fh:
            json.load(fh)
    print(json.dumps({"s": time.perf_counter() - start, "peak_rss": status("VmHWM:")}))
else:
    from rsgpt4v.build import BuildOptions, build
    from rsgpt4v.sources import build_inputs
    start = time.perf_counter()
    report = build(build_inputs({"rsvqa_hr": root}), out, BuildOptions(progress=False, workers=workers))
    total = time.perf_counter() - start
    accepted = sum(e["accepted"] for e in report["counts"])
    print(json.dumps({"s": total, "timings": report["timings"], "accepted": accepted, "peak_rss": status("VmHWM:")}))
"""


def synthesise(root: Path, n_questions: int, n_images: int, seed: int = 0) -> None:
    """Write the RSVQA-HR-shaped source (only the train split holds data; other splits are placeholders)."""
    from PIL import Image

    rng = random.Random(seed)
    (root / "Data").mkdir(parents=True)
    for k in range(n_images):
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(buf, "TIFF")
        (root / "Data" / f"{k}.tif").write_bytes(buf.getvalue())
    per_image = n_questions // n_images
    templates = [
        ("presence", "Is there a residential building?", ("yes", "no")),
        ("count", "How many roads are there?", ("0", "3", "12")),
        ("comp", "Is the number of buildings equal to the number of roads?", ("yes", "no")),
        ("area", "What is the area covered by residential areas?", ("0m2", "10632m2", "348m2")),
    ]
    images, questions, answers = [], [], []
    for k in range(n_images):
        ids = list(range(k * per_image, (k + 1) * per_image))
        images.append({"id": k, "active": True, "original_name": f"{k}.tif", "questions_ids": ids})
        for qid in ids:
            qtype, text, options = templates[qid % len(templates)]
            questions.append(
                {"id": qid, "active": True, "question": text, "type": qtype, "img_id": k, "answers_ids": [qid],
                 "date_added": 1.5e9, "people_id": 1}
            )  # fmt: skip
            answers.append({"id": qid, "active": True, "answer": rng.choice(options), "question_id": qid})
    for kind, entries in (("images", images), ("questions", questions), ("answers", answers)):
        (root / f"USGS_split_train_{kind}.json").write_text(json.dumps({kind: entries}))
        for split in ("val", "test", "test_phili"):
            (root / f"USGS_split_{split}_{kind}.json").write_text(json.dumps({kind: []}))


def _run(mode: str, root: Path, out: Path, workers: int = 1) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(root), str(out), str(workers)], capture_output=True, text=True
    )
    if res.returncode:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "RSVQA_HR"
        synthesise(root, args.questions, args.images)
        floor = _run("floor", root, Path(tmp) / "unused")
        one = _run("build", root, Path(tmp) / "out1", 1)
        two = _run("build", root, Path(tmp) / "out2", 2)
        assert one["accepted"] == two["accepted"] == args.questions
        print(
            json.dumps(
                {
                    "questions": args.questions,
                    "images": args.images,
                    "records_per_s": round(args.questions / one["s"]),
                    "floor_ratio": round(one["s"] / floor["s"], 2),
                    "peak_rss_gb": round(one["peak_rss"] / 2**30, 3),
                    "workers2_speedup": round(one["timings"]["write_s"] / two["timings"]["write_s"], 2),
                    "build_s": round(one["s"], 2),
                    "build_workers2_s": round(two["s"], 2),
                    "json_load_s": round(floor["s"], 2),
                    "read_s": round(one["timings"]["read_s"], 2),
                    "write_s_workers1": round(one["timings"]["write_s"], 2),
                    "write_s_workers2": round(two["timings"]["write_s"], 2),
                    "json_load_peak_rss_gb": round(floor["peak_rss"] / 2**30, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
