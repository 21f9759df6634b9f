"""vidbokeh.depth.catalog (models list / fetch / path), offline, and the trust-on-first-use record
of weight files whose hash is not published."""
from __future__ import annotations

from pathlib import Path

import pytest

from vidbokeh import store
from vidbokeh.depth import catalog, list_depth_models
from vidbokeh.errors import WeightsNotFoundError


def test_catalog_lists_every_variant_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    rows = {r.name: r for r in catalog.list_rows()}
    assert set(rows) == set(list_depth_models())
    assert rows["depth_anything_v2_vits"].params == 24_784_705  # the released file minus mask_token
    assert rows["depth_anything_v2_vitb"].license == "CC-BY-NC-4.0"
    assert not any(r.cached for r in rows.values())
    hybrid = catalog.path("midas_dpt_hybrid_384")
    assert hybrid == tmp_path / "dpt_hybrid_384.pt"
    table = catalog.format_table(catalog.list_rows())
    assert "CC-BY-NC-4.0" in table and "midas_dpt_large_384" in table
    with pytest.raises(WeightsNotFoundError, match="--weights"):
        catalog.fetch("depth_anything_v2_vits", progress=False)


def test_a_file_put_in_the_store_is_trusted_on_first_use_then_verified(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    hybrid = catalog.path("midas_dpt_hybrid_384")
    hybrid.write_bytes(b"x")  # no hash is published for it: its hash is recorded at first use
    assert catalog.is_cached("midas_dpt_hybrid_384")
    rf = catalog.remote_file(catalog.get_variant("midas_dpt_hybrid_384"))
    assert store.recorded_sha256(rf) == (store.sha256_file(hybrid), "found")
    line = next(l for l in catalog.format_table(catalog.list_rows()).splitlines() if l.startswith("midas_dpt_hybrid"))
    assert line.split()[-1] == "yes"
    hybrid.write_bytes(b"y")  # changed afterwards: no longer trusted
    assert not catalog.is_cached("midas_dpt_hybrid_384")
    with pytest.raises(WeightsNotFoundError, match="SHA-256 is not the expected"):
        catalog.fetch("midas_dpt_hybrid_384", progress=False)
