"""Caption metrics: rsgpt4v's vectorised BLEU + ROUGE-L + CIDEr-D vs pycocoevalcap's, on the same tokens.

An NWPU-Captions-sized test corpus (3,150 images x 5 references) of synthetic remote-sensing sentences; each
prediction is one reference of its image with words dropped, swapped or replaced. Both implementations get the
same whitespace tokens (what ``tokenize=False`` scores), so the comparison is of the metric code alone.

Prints one JSON line: timings, ``speedup`` (pycocoevalcap time / ours) and ``max_abs_diff`` over the six scores.
Run: ``python benchmarks/bench_metrics.py [--images 3150] [--refs 5] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import time

SUBJECTS = [
    "planes",
    "a plane",
    "many buildings",
    "some green trees",
    "a river",
    "several cars",
    "two tennis courts",
    "a baseball field",
    "a large lake",
    "many houses",
    "a road",
    "a bridge",
    "storage tanks",
    "a parking lot",
    "a railway station",
    "an airport",
    "a playground",
    "a dense forest",
    "a farmland",
    "a harbor",
    "ships",
    "a stadium",
    "a church",
    "a highway",
    "an overpass",
    "a golf course",
    "bare land",
    "a beach",
    "waves",
    "a dam",
    "a wetland",
    "a meadow",
    "an island",
    "a desert",
    "mountains",
    "a circular farmland",
]
VERBS = [
    "are parked on",
    "is next to",
    "are located in",
    "is surrounded by",
    "lies beside",
    "are arranged along",
    "is near",
    "runs through",
    "are scattered around",
    "is built on",
    "goes across",
    "are around",
    "is between",
]
OBJECTS = [
    "the runway",
    "the grass",
    "a residential area",
    "the river",
    "the road",
    "the lawn",
    "some buildings",
    "the sea",
    "the farmland",
    "the parking lot",
    "the industrial area",
    "the green trees",
    "the bare land",
    "the lake",
    "the highway",
    "the mountains",
    "the square",
    "the commercial area",
    "the dense houses",
]
MODIFIERS = [
    "",
    "",
    "",
    "neatly",
    "closely",
    "in a line",
    "in rows",
    "with white roofs",
    "in the middle",
    "on both sides",
    "of different sizes",
    "densely",
    "with some cars",
]


def sentence(rng: random.Random) -> str:
    words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(MODIFIERS)}"
    if rng.random() < 0.4:
        words += f" and {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return " ".join(words.split())


def perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 3)):
        op = rng.random()
        if op < 0.35 and len(words) > 2:
            words.pop(rng.randrange(len(words)))
        elif op < 0.7 and len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            words.insert(rng.randrange(len(words) + 1), rng.choice(rng.choice(OBJECTS).split()))
    return " ".join(words)


def corpus(images: int, refs: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    references = [[sentence(rng) for _ in range(refs)] for _ in range(images)]
    candidates = [perturb(rng.choice(r), rng) for r in references]
    return candidates, references


def ours(candidates: list[str], references: list[list[str]]) -> dict[str, float]:
    from rsgpt4v.evaluation import caption_scores

    keys = [str(i) for i in range(len(candidates))]
    return caption_scores(dict(zip(keys, candidates)), dict(zip(keys, references)), tokenize=False, meteor=False)


def reference(candidates: list[str], references: list[list[str]]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: r for i, r in enumerate(references)}
    res = {i: [c] for i, c in enumerate(candidates)}
    with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its counts
        bleu, _ = Bleu(4).compute_score(gts, res)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return {**{f"Bleu_{k + 1}": b for k, b in enumerate(bleu)}, "ROUGE_L": float(rouge), "CIDEr": float(cider)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3150)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    candidates, references = corpus(args.images, args.refs, args.seed)
    ours(candidates[:10], references[:10])  # import and first-call cost out of the timing
    start = time.perf_counter()
    mine = ours(candidates, references)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = reference(candidates, references)
    ref_s = time.perf_counter() - start
    diff = max(abs(mine[k] - theirs[k]) for k in theirs)
    print(
        json.dumps(
            {
                "benchmark": "caption_metrics_bleu_rouge_cider",
                "images": args.images,
                "refs_per_image": args.refs,
                "ours_s": round(ours_s, 4),
                "pycocoevalcap_s": round(ref_s, 4),
                "speedup": round(ref_s / ours_s, 2),
                "max_abs_diff": diff,
                "scores": {k: round(v, 6) for k, v in mine.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
