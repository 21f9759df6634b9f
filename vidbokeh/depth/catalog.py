"""Plain functions behind ``vidbokeh models list|fetch|path`` (all offline except fetch); no torch.

``list_rows() -> list[ModelRow]``: one row per registered variant (name, family, parameter
count from the registry, licence, cached or not, store path).
``format_table(rows) -> str``: the table ``models list`` prints.
``fetch(name, progress=True) -> Path``: download (or reuse) the verified released file.
``path(name) -> Path``: where the file is or would be stored; ``is_cached(name) -> bool``.
``export(name, runtime, size=None, frame=None, weights=None) -> Path``: build (or find) the exported
graph of a variant for a runtime ahead of time (imports torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import store
from .registry import all_variants, get_variant, remote_file


@dataclass(frozen=True)
class ModelRow:
    name: str
    family: str
    params: int  # parameters of our network (the file may also carry an unused classifier)
    license: str
    cached: bool
    path: Path
    default_input_size: int


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


def export(name: str, runtime: str, size: int | None = None, frame: tuple[int, int] | None = None,
           weights: str | Path | None = None) -> Path:
    """The cached exported graph of ``name`` for ``runtime``, for frames of ``frame`` (width, height;
    default square) at depth input ``size`` (default the variant's): built and verified when missing."""
    from .model import create_depth_model
    from .transforms import net_input_shape

    variant = get_variant(name)
    side = size or variant.input_size
    width, height = frame or (side, side)
    shape = net_input_shape(height, width, variant, size)
    model = create_depth_model(name, weights=weights, device="cpu", runtime=runtime)
    model.runner.session(runtime, shape)
    return model.runner.graph_key(runtime, shape).folder()
