"""The three reports of a comparison: results.json, report.md and a self-contained
report.html (plots and grid thumbnails embedded as base64, sortable tables).

Writers take the finished ``CompareResult`` (whose paths name the final output
folder) and the folder they write into (the staging folder that is swapped in
afterwards); files are referenced relative to the output folder.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import cv2

from .. import __version__
from ..errors import OutputError
from .grid import fit_width
from .records import QUALITY_FIELDS, CompareResult, ordered_stages, ImageRun, PairAgreement, RunSummary

TOOL = "vidbokeh compare"
SCHEMA_VERSION = 1
Table = tuple[list[str], list[list[str]]]


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths and mappings into JSON types (NaN/inf become null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _relative(result: CompareResult, path: Path | None) -> str | None:
    return None if path is None else path.relative_to(result.out_dir).as_posix()


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return ""
    return f"{value:.{digits}f}" if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{1000 * seconds:.1f}"


def _mib(count: int | None) -> str:
    return "" if count is None else f"{count / 2**20:.0f}"


def _titles(result: CompareResult) -> dict[str, str]:
    return {r.run: r.title for r in result.runs}


def runs_table(result: CompareResult) -> Table:
    head = ["run", "description", "weights", "device", "params (M)", "load s", "median ms", "p90 ms",
            "peak mem MiB", "GPU peak MiB", "images ok", "failed"]
    rows = []
    for r in result.runs:
        if r.weights is not None:
            weights = f"{r.weights}" + (f" ({r.weights_note.upper()})" if r.weights_note else "")
        else:
            weights = "" if r.approach == "selfie" else "released (weight store)"
        rows.append([
            r.title, r.description or f"not loaded: {r.load_error}", weights, r.device or "",
            "" if r.num_params is None else f"{r.num_params / 1e6:.2f}", _num(r.load_seconds, 2),
            _ms(r.median_seconds), _ms(r.p90_seconds), _mib(r.peak_memory_bytes),
            _mib(r.gpu_peak_memory_bytes), str(r.images_ok), str(r.images_failed),
        ])
    return head, rows


def stages_table(result: CompareResult) -> Table:
    stages = ordered_stages(result.runs)
    head = ["run"] + [f"{s} ms" for s in stages] + ["sum of stage medians ms"]
    rows = [[r.title] + [_ms(r.stage_median_seconds.get(s)) for s in stages]
            + [_ms(sum(r.stage_median_seconds.values()) if r.stage_median_seconds else None)]
            for r in result.runs]
    return head, rows


def quality_table(result: CompareResult) -> Table | None:
    if not any(r.quality_median for r in result.runs):
        return None
    head = ["run"] + [f"{f} (median)" for f in QUALITY_FIELDS] + ["images with mask"]
    rows = []
    for r in result.runs:
        count = sum(1 for o in result.outcomes if o.run == r.run and o.quality is not None)
        rows.append([r.title] + [_num(r.quality_median.get(f)) for f in QUALITY_FIELDS] + [str(count)])
    return head, rows


def depth_table(result: CompareResult) -> Table | None:
    if not any(r.depth_mean for r in result.runs):
        return None
    head = ["run", "AbsRel (mean)", "delta<1.25 (mean)", "images with depth GT"]
    rows = []
    for r in result.runs:
        count = sum(1 for o in result.outcomes if o.run == r.run and o.depth is not None)
        rows.append([r.title, _num(r.depth_mean.get("abs_rel")), _num(r.depth_mean.get("delta1")), str(count)])
    baselines = [i.depth_baseline for i in result.images if i.depth_baseline is not None]
    if baselines:
        rows.append(["(baseline: one flat depth)", _num(statistics.fmean(b.abs_rel for b in baselines)),
                     _num(statistics.fmean(b.delta1 for b in baselines)), str(len(baselines))])
    return head, rows


def agreement_table(result: CompareResult) -> Table | None:
    if not result.agreement:
        return None
    titles = _titles(result)
    pairs: dict[tuple[str, str], list[PairAgreement]] = {}
    for item in result.agreement:
        pairs.setdefault((item.run_a, item.run_b), []).append(item)
    head = ["run A", "run B", "depth Spearman (mean)", "mask IoU (mean)", "images"]
    rows = []
    for (a, b), items in pairs.items():
        rho = [i.depth_spearman for i in items if i.depth_spearman is not None]
        iou = [i.mask_iou for i in items if i.mask_iou is not None]
        rows.append([titles.get(a, a), titles.get(b, b), _num(statistics.fmean(rho)) if rho else "",
                     _num(statistics.fmean(iou)) if iou else "", str(len(items))])
    return head, rows


def per_image_table(result: CompareResult) -> Table:
    titles = _titles(result)
    head = ["image", "run", "status", "ms"] + list(QUALITY_FIELDS) + ["AbsRel", "delta<1.25", "result",
                                                                      "error / notes"]
    rows = []
    for o in result.outcomes:
        quality = o.quality or {}
        rows.append([
            o.image, titles.get(o.run, o.run), "ok" if o.ok else "FAILED", _ms(o.seconds),
            *[_num(quality.get(f)) for f in QUALITY_FIELDS],
            _num(o.depth.abs_rel) if o.depth else "", _num(o.depth.delta1) if o.depth else "",
            _relative(result, o.result_path) or "", o.error or "; ".join(o.notes),
        ])
    return head, rows


def warnings(result: CompareResult) -> list[str]:
    lines = []
    for r in result.runs:
        if r.weights_note:
            lines.append(f"{r.run} runs on {r.weights_note.upper()} weights ({r.weights}): its depth, "
                         "quality and agreement figures say nothing about the real model.")
    return lines


def _sections(result: CompareResult) -> list[tuple[str, Table | None, str]]:
    return [
        ("Approaches", runs_table(result),
         f"Per image time is the wall time of the effect on the decoded image (decode and encode "
         f"excluded; the first image of a run includes warm-up, which p90 shows). Load time is the "
         f"effect's own; the first approach of a model family also pays one-time imports and a cold "
         f"file cache, later ones with the same files load warm. Peak memory: "
         f"{result.runs[0].memory_method if result.runs else ''}."),
        ("Time per stage", stages_table(result), "Median over the images each run processed."),
        ("Quality against person masks", quality_table(result),
         "fg_psnr (dB, higher = subject untouched), bg_energy (lower = more blur), sharp_iou (higher), "
         "leak (lower)."),
        ("Depth against ground truth", depth_table(result),
         "After a least-squares scale-and-shift fit in inverse depth, pixels without a reading ignored. "
         "The baseline row scores a flat prediction (the best single depth): a depth map must beat it."),
        ("Agreement between approaches", agreement_table(result),
         "Spearman rank correlation of depth maps, IoU of protection masks (> 0.5)."),
        ("Per image", per_image_table(result), ""),
    ]


def _settings_lines(result: CompareResult) -> list[str]:
    s = result.settings
    return [
        f"inputs: {', '.join(str(p) for p in result.inputs)}",
        f"strategies: {', '.join(s.strategies)}",
        f"masks: {s.masks_dir or 'none'}; depth: {s.depth_dir or 'none'} (metres = value / {s.depth_scale:g})",
        f"images: {len(result.images)}, runs: {len(result.runs)}, failed image runs: {len(result.failed)}",
    ]


def _md_table(table: Table) -> str:
    head, rows = table
    escape = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(result: CompareResult) -> str:
    out = ["# vidbokeh comparison", "", f"vidbokeh {__version__}, "
           f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", ""]
    for line in warnings(result):
        out += [f"> **Warning:** {line}", ""]
    out += [""] + [f"- {line}" for line in _settings_lines(result)] + [""]
    for title, table, note in _sections(result):
        if table is None:
            continue
        out += [f"## {title}", ""] + ([note, ""] if note else []) + [_md_table(table), ""]
    out += ["## Plots", ""] + [f"![{p.stem}]({_relative(result, p)})" for p in result.plots] + [""]
    out += ["## Grids", ""]
    for image in result.images:
        if image.grid_path is not None:
            out += [f"### {image.key}", "", f"![{image.key}]({_relative(result, image.grid_path)})", ""]
        else:
            out += [f"### {image.key}", "", f"not processed: {image.error}", ""]
    return "\n".join(out)


_SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute('data-order') !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
    th.setAttribute('data-order', asc ? 'asc' : 'desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : (x === '' ? 1 : y === '' ? -1 : x.localeCompare(y));
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-order=asc]::after { content: " \\25B2"; } th[data-order=desc]::after { content: " \\25BC"; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: 0.5em 1em; font-weight: bold; }
.failed { color: #b00020; font-weight: bold; }
img { max-width: 100%; }
"""


def _html_table(table: Table) -> str:
    head, rows = table
    out = ["<table class=\"sortable\"><thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(
            f"<td class=\"failed\">{html.escape(c)}</td>" if c == "FAILED" else f"<td>{html.escape(c)}</td>"
            for c in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _data_uri(path: Path, width: int | None = None) -> str:
    if width is None:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise OutputError(f"cannot read back {path} for the HTML report")
    if picture.shape[1] > width:
        picture = fit_width(picture, width)
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise OutputError(f"cannot encode the thumbnail of {path}")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def render_html(result: CompareResult, staged_dir: Path) -> str:
    """The self-contained page; pictures are read from ``staged_dir`` and embedded."""
    staged = lambda path: staged_dir / path.relative_to(result.out_dir)  # noqa: E731
    out = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>vidbokeh comparison</title>",
           f"<style>{_STYLE}</style></head><body><h1>vidbokeh comparison</h1>",
           f"<p>vidbokeh {html.escape(__version__)}, "
           f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</p>"]
    out += [f"<p class=\"warning\">Warning: {html.escape(line)}</p>" for line in warnings(result)]
    out.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in _settings_lines(result)) + "</ul>")
    for title, table, note in _sections(result):
        if table is None:
            continue
        out.append(f"<h2>{html.escape(title)}</h2>")
        if note:
            out.append(f"<p>{html.escape(note)}</p>")
        out.append(_html_table(table))
    out.append("<h2>Plots</h2>")
    out += [f"<p><img alt=\"{html.escape(p.stem)}\" src=\"{_data_uri(staged(p))}\"></p>" for p in result.plots]
    out.append("<h2>Grids</h2>")
    for image in result.images:
        out.append(f"<h3>{html.escape(image.key)}</h3>")
        if image.grid_path is None:
            out.append(f"<p class=\"failed\">not processed: {html.escape(image.error or '')}</p>")
            continue
        uri = _data_uri(staged(image.grid_path), result.settings.html_thumbnail_width)
        out.append(f"<p><img alt=\"grid {html.escape(image.key)}\" src=\"{uri}\"></p>")
    out.append(f"<script>{_SORT_SCRIPT}</script></body></html>")
    return "\n".join(out)


def results_document(result: CompareResult) -> dict[str, Any]:
    """The machine-readable results (paths relative to the output folder)."""
    def outcome(o: ImageRun) -> dict[str, Any]:
        data = to_jsonable(o)
        data["result_path"] = _relative(result, o.result_path)
        return data

    def run(r: RunSummary) -> dict[str, Any]:
        return to_jsonable(r)

    images = []
    for image in result.images:
        data = to_jsonable(image)
        data["grid_path"] = _relative(result, image.grid_path)
        images.append(data)
    settings = to_jsonable(result.settings)
    settings["effect"] = None if result.settings.effect is None else to_jsonable(result.settings.effect)
    return {
        "tool": TOOL, "schema": SCHEMA_VERSION, "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": [str(p) for p in result.inputs], "out_dir": str(result.out_dir),
        "settings": settings, "warnings": warnings(result),
        "runs": [run(r) for r in result.runs],
        "images": images,
        "outcomes": [outcome(o) for o in result.outcomes],
        "agreement": [to_jsonable(a) for a in result.agreement],
        "files": {
            "report_md": _relative(result, result.report_md),
            "report_html": _relative(result, result.report_html),
            "results_json": _relative(result, result.results_json),
            "plots": [_relative(result, p) for p in result.plots],
        },
    }


def write_reports(result: CompareResult, staged_dir: Path) -> None:
    """Write results.json, report.md and report.html into ``staged_dir``."""
    staged = lambda path: staged_dir / path.relative_to(result.out_dir)  # noqa: E731
    try:
        staged(result.results_json).write_text(
            json.dumps(results_document(result), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        staged(result.report_md).write_text(render_markdown(result) + "\n", encoding="utf-8")
        staged(result.report_html).write_text(render_html(result, staged_dir) + "\n", encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write the report: {error}") from error


def is_previous_report(folder: Path) -> bool:
    """True when ``folder`` holds a report this tool wrote (so replacing it is safe)."""
    try:
        document = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("tool") == TOOL


__all__: Sequence[str] = ("write_reports", "results_document", "is_previous_report", "to_jsonable")
