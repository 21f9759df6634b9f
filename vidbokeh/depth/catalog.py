"""Plain functions behind ``vidbokeh models list|fetch|path`` (all offline except fetch).

``list_rows() -> list[ModelRow]``: one row per registered variant (name, family, parameter
count computed from the architecture on the meta device, licence, cached or not, store path).
``format_table(rows) -> str``: the table ``models list`` prints.
``fetch(name, progress=True) -> Path``: download (or reuse) the verified released file.
``path(name) -> Path``: where the file is or would be stored; ``is_cached(name) -> bool``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .loading import build_net
from .model import remote_file
from .registry import all_variants, get_variant


@dataclass(frozen=True)
class ModelRow:
    name: str
    family: str
    params: int  # parameters of our network (the file may also carry an unused classifier)
    license: str
    cached: bool
    path: Path
    default_input_size: int


@lru_cache(maxsize=None)
def parameter_count(name: str) -> int:
    """Parameters of a variant's network, counted without allocating it."""
    net = build_net(get_variant(name), "meta")
    return sum(p.numel() for p in net.parameters())


def path(name: str) -> Path:
    from ..store import store_path

    return store_path(remote_file(get_variant(name)))


def is_cached(name: str) -> bool:
    from ..store import cached_path

    return cached_path(remote_file(get_variant(name))) is not None


def list_rows() -> list[ModelRow]:
    from ..store import cached_path

    rows = []
    for v in all_variants():
        rf = remote_file(v)
        rows.append(
            ModelRow(
                name=v.name,
                family=v.family,
                params=parameter_count(v.name),
                license=v.license,
                cached=cached_path(rf) is not None,
                path=path(v.name),
                default_input_size=v.input_size,
            )
        )
    return rows


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def format_table(rows: list[ModelRow]) -> str:
    header = ("variant", "family", "params", "input", "licence", "cached")
    body = [
        (r.name, r.family, _millions(r.params), str(r.default_input_size), r.license, "yes" if r.cached else "no")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body]]
    return "\n".join(lines)


def fetch(name: str, progress: bool = True) -> Path:
    from .. import store

    return store.fetch(remote_file(get_variant(name)), progress=progress)
