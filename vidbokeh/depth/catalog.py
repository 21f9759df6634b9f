"""Plain functions behind ``vidbokeh models list|fetch|path`` (all offline except fetch); no torch.

``list_rows() -> list[ModelRow]``: one row per registered variant (name, family, parameter
count from the registry, licence, cached or not, store path).
``format_table(rows) -> str``: the table ``models list`` prints.
``fetch(name, progress=True) -> Path``: download (or reuse) the verified released file.
``path(name) -> Path``: where the file is or would be stored; ``is_cached(name) -> bool``.
``remote_file(variant) -> RemoteFile``: the weight-store record of a variant's released file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import store
from .registry import DepthVariant, all_variants, get_variant


@dataclass(frozen=True)
class ModelRow:
    name: str
    family: str
    params: int  # parameters of our network (the file may also carry an unused classifier)
    license: str
    cached: bool
    path: Path
    default_input_size: int


def remote_file(variant: DepthVariant) -> store.RemoteFile:
    """The weight-store record of a variant's released file."""
    return store.RemoteFile(name=variant.name, url=variant.url, sha256=variant.sha256, filename=variant.filename)


def path(name: str) -> Path:
    return store.store_path(remote_file(get_variant(name)))


def is_cached(name: str) -> bool:
    """True when the variant's verified file is in the store (decided without torch)."""
    return store.cached_path(remote_file(get_variant(name))) is not None


def list_rows() -> list[ModelRow]:
    return [
        ModelRow(
            name=v.name,
            family=v.family,
            params=v.params,
            license=v.license,
            cached=is_cached(v.name),
            path=path(v.name),
            default_input_size=v.input_size,
        )
        for v in all_variants()
    ]


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
    return store.fetch(remote_file(get_variant(name)), progress=progress)
