"""Helpers for tests that launch several processes (``torch.distributed.run``, ``accelerate launch``) on loopback."""

from __future__ import annotations

import os
import socket
from pathlib import Path

#: The repository root, put on the launched processes' ``PYTHONPATH``.
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for the rendezvous of launched processes)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env() -> dict[str, str]:
    """The environment of launched processes: this one's, one OpenMP thread each, the repository importable."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
