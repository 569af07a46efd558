"""Grammars (:mod:`ingestion.xmlgrammar`) compiled to native code by re2c and a C compiler.

re2c turns a grammar into a deterministic automaton written out as C; the compiler makes it a
shared library, loaded here with ctypes. A batch of lines is checked in one call, with the GIL
released, so reader threads check days in parallel. The library is built once per grammar
text (about ten seconds) into a cache directory — ``$GOVDATA_NATIVE_CACHE``, else
``$XDG_CACHE_HOME/govdata``, else ``~/.cache/govdata`` — and reused by every later run;
``make install`` builds it ahead (``python -m ingestion.compiled``).

Where re2c or a C compiler is missing, :func:`load` says why in the log and returns None: the
connector then runs the same grammar as a regular expression in polars (slower, same answers).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingestion.xmlgrammar import Node, re2c_spec

log = logging.getLogger(__name__)

CFLAGS = ("-O2", "-shared", "-fPIC")


class GrammarCompileError(RuntimeError):
    """The grammars could not be compiled (the message says which tool and why)."""


def cache_dir() -> Path:
    configured = os.environ.get("GOVDATA_NATIVE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "govdata"


def _tool(name: str, variable: str | None = None) -> str:
    chosen = (os.environ.get(variable) if variable else None) or shutil.which(name)
    if not chosen:
        raise GrammarCompileError(f"{name} is not installed (Debian: apt-get install {name})")
    return chosen


def build(grammars: dict[str, Node], directory: Path | None = None) -> Path:
    """The shared library checking ``grammars`` (built unless the cache has it)."""
    spec = re2c_spec(grammars)
    digest = hashlib.sha256((spec + " ".join(CFLAGS)).encode()).hexdigest()[:16]
    directory = directory or cache_dir()
    library = directory / f"grammars-{digest}.so"
    if library.exists():
        return library
    re2c, compiler = _tool("re2c"), _tool("cc", "CC")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix="build-") as work:
        source, generated = Path(work) / "grammars.re", Path(work) / "grammars.c"
        source.write_text(spec, encoding="utf-8")
        for command in (
            [re2c, "--utf8", "-W", "-o", str(generated), str(source)],
            [compiler, *CFLAGS, "-o", str(Path(work) / library.name), str(generated)],
        ):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise GrammarCompileError(
                    f"{Path(command[0]).name} failed: {done.stderr.strip()[:2000]}"
                )
        os.replace(Path(work) / library.name, library)  # atomic: a concurrent build may win
    return library


@dataclass(frozen=True, slots=True)
class CompiledGrammars:
    library: ctypes.CDLL
    names: frozenset[str]

    def accepts(self, name: str, lines: pa.Array) -> np.ndarray:
        """Per line of ``lines`` (binary or string, 32- or 64-bit offsets, no nulls): whether
        the grammar ``name`` accepts the whole line."""
        if name not in self.names:
            raise KeyError(name)
        if lines.null_count:
            raise ValueError("lines must not be null")
        if not pa.types.is_large_binary(lines.type):
            lines = lines.cast(pa.large_binary())
        out = np.zeros(len(lines), np.uint8)
        if len(lines) == 0:
            return out.astype(bool)
        _, offsets, data = lines.buffers()
        first = lines.offset  # a slice starts inside its buffers
        check = getattr(self.library, f"{name}_lines")
        accepted = check(
            ctypes.c_void_p(offsets.address + 8 * first),
            ctypes.c_void_p(data.address if data is not None else 0),
            ctypes.c_int64(len(lines)),
            out.ctypes.data_as(ctypes.c_void_p),
        )
        if accepted < 0:
            raise MemoryError(f"checking {len(lines)} lines against {name}")
        return out.astype(bool)


_loaded: dict[str, CompiledGrammars | None] = {}
_lock = threading.Lock()


def load(grammars: dict[str, Node]) -> CompiledGrammars | None:
    """The compiled grammars (built on first use), or None when they cannot be built here."""
    key = re2c_spec(grammars)
    with _lock:
        if key not in _loaded:
            try:
                library = ctypes.CDLL(str(build(grammars)))
            except (GrammarCompileError, OSError) as error:
                log.warning("XML grammars run as regular expressions (slower): %s", error)
                _loaded[key] = None
            else:
                for name in grammars:
                    check = getattr(library, f"{name}_lines")
                    check.restype = ctypes.c_int64
                    check.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64, ctypes.c_void_p]
                _loaded[key] = CompiledGrammars(library, frozenset(grammars))
        return _loaded[key]


if __name__ == "__main__":  # make install: build ahead so that no run pays for it
    from ingestion.documents.grammar import GRAMMARS

    print(build(GRAMMARS))
