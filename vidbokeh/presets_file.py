"""User presets: named effect settings saved as JSON files, shared by the CLI and the web studio.

A preset file is ``{"schema": 1, "name": NAME, "settings": {FIELD: VALUE, ...}}`` where each FIELD is
an ``EffectSettings`` field name (``approach``, ``strategy``, ``max_blur``, ``focus_point``, ...). Saved
presets live in ``$VIDBOKEH_HOME/presets/NAME.json``; a preset can also be any file (``--preset
look.json``). Every problem with a file is one ``UsageError`` line naming the file and the problem.

This module is the one owner of "effect settings as plain values": ``settings_from_values`` turns a
mapping of field values (JSON values, or text such as HTML form fields with ``text=True``) into a
validated ``EffectSettings``, ``settings_to_values`` the other way. The built-in strategy table stays in
``vidbokeh/stages/presets.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import PresetNotFoundError, UsageError

SCHEMA = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_FILE_BYTES = 64 * 1024
# EffectSettings fields a preset may not carry: how a run is wired, not how the picture looks (a weights
# path belongs to one machine; video mode and its profile are chosen by the command).
EXCLUDED_FIELDS = frozenset({"video", "video_profile", "weights", "weights_note"})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class UserPreset:
    """A named set of effect settings: only the fields the preset sets (others keep their defaults)."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "values", dict(settings_to_values(settings_from_values(self.values))))

    def apply(self, base=None):
        """``base`` (default: ``EffectSettings()``) with this preset's fields set."""
        return settings_from_values(self.values, base=base)

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "name": self.name, "settings": dict(self.values)}, indent=2) + "\n"


def check_name(name: str) -> str:
    """``name`` when it is a valid preset name (letters, digits, _ and -; at most 64), else UsageError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"bad preset name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a "
                         "letter or digit")
    return name


def _effect_settings_type():
    from .engine import EffectSettings

    return EffectSettings


def preset_fields() -> dict[str, Any]:
    """Field name -> type annotation of every EffectSettings field a preset may set."""
    settings_type = _effect_settings_type()
    hints = typing.get_type_hints(settings_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(settings_type) if f.name not in EXCLUDED_FIELDS}


def _coerce(name: str, kind: Any, value: Any, text: bool) -> Any:
    """``value`` as the field's type, or UsageError naming the field and what it expects."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (text and isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        inner = [a for a in args if a is not type(None)]
        kind = inner[0] if len(inner) == 1 else kind
    if text and isinstance(value, str):
        value = value.strip()
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise UsageError(f"{name}: expected true or false, got {value!r}")
    if kind is int:
        if text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UsageError(f"{name}: expected a whole number, got {value!r}")
    if kind is float:
        if text and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
                and abs(value) != float("inf"):
            return float(value)
        raise UsageError(f"{name}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str) and value:
            return value
        raise UsageError(f"{name}: expected a name, got {value!r}")
    if typing.get_origin(kind) is tuple:
        if text and isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)) and len(value) == len(typing.get_args(kind)):
            return tuple(_coerce(name, k, v, text) for k, v in zip(typing.get_args(kind), value))
        raise UsageError(f"{name}: expected {len(typing.get_args(kind))} numbers as x,y, got {value!r}")
    raise UsageError(f"{name}: cannot be set in a preset")


def settings_from_values(values: Mapping[str, Any], *, base=None, text: bool = False):
    """``base`` (default ``EffectSettings()``) with ``values`` set: each key an EffectSettings field name.

    JSON values are checked against each field's type (``text=True`` also parses strings: "0.3", "true",
    "0.5,0.4"); the settings then validate themselves. Unknown fields, wrong types and bad values are one
    UsageError line."""
    known = preset_fields()
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise UsageError(f"unknown setting {key!r} (known: {', '.join(sorted(known))})")
        changes[key] = _coerce(key, known[key], value, text)
    base = base if base is not None else _effect_settings_type()()
    try:
        return dataclasses.replace(base, **changes)
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def with_preset(name_or_file: str, values: Mapping[str, Any], explicit: set[str]) -> dict[str, Any]:
    """A command line's settings over a preset (``--preset NAME|FILE``): ``values`` (EffectSettings keyword
    arguments the command built) keep the fields given ``explicit``ly and those a preset cannot hold; every
    other field the preset sets takes the preset's value."""
    preset = resolve(name_or_file)
    known = preset_fields()
    merged = dict(values)
    for name, value in preset.values.items():
        if name not in explicit:
            merged[name] = _coerce(name, known[name], value, False)
    return merged


def settings_to_values(settings) -> dict[str, Any]:
    """The preset fields of ``settings`` that differ from the defaults, as JSON values."""
    default = _effect_settings_type()()
    out: dict[str, Any] = {}
    for name in preset_fields():
        value = getattr(settings, name)
        if value != getattr(default, name):
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


# -- files ----------------------------------------------------------------------------------------------

def parse(text: str | bytes, *, source: str = "preset") -> UserPreset:
    """A preset from the text of a file; UsageError ``SOURCE: problem`` when it is not a valid one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: not a preset file (invalid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: not a preset file (expected a JSON object)")
    schema = data.get("schema")
    if schema is None or isinstance(schema, bool) or not isinstance(schema, int):
        raise UsageError(f"{source}: not a preset file (no \"schema\" version)")
    if schema > SCHEMA:
        raise UsageError(f"{source}: preset schema {schema} is newer than this vidbokeh reads ({SCHEMA}); "
                         "upgrade vidbokeh")
    if schema < 1:
        raise UsageError(f"{source}: unknown preset schema {schema}")
    extra = set(data) - {"schema", "name", "settings"}
    if extra:
        raise UsageError(f"{source}: unknown key(s) {', '.join(sorted(extra))} in a preset file")
    settings = data.get("settings")
    if not isinstance(settings, dict):
        raise UsageError(f"{source}: \"settings\" must be a JSON object")
    try:
        return UserPreset(name=data.get("name"), values=settings)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def read_file(path: str | os.PathLike[str]) -> UserPreset:
    """The preset in the file at ``path`` (one UsageError line for a missing, unreadable or bad file)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: too large for a preset file (over {MAX_FILE_BYTES // 1024} KB)")
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: preset file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a preset file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the preset file ({exc.strerror or exc})") from None
    return parse(text, source=str(path))


def store_dir() -> Path:
    """Where saved presets live: ``$VIDBOKEH_HOME/presets`` (not created here)."""
    from .store import home

    return home() / "presets"


def _stored_path(name: str) -> Path:
    return store_dir() / f"{check_name(name)}.json"


def load(name: str) -> UserPreset:
    """The saved preset ``name``; UsageError naming the saved ones when there is none."""
    path = _stored_path(name)
    if not path.is_file():
        known = list_names()
        choices = f"saved presets: {', '.join(known)}" if known else "no presets saved yet"
        raise PresetNotFoundError(f"no preset named {name!r} in {store_dir()} ({choices})")
    return read_file(path)


def resolve(name_or_file: str) -> UserPreset:
    """``--preset`` value: a path to a preset file (has a folder part or ends in .json), else a saved name."""
    text = str(name_or_file)
    if os.sep in text or "/" in text or text.lower().endswith(".json"):
        return read_file(text)
    return load(text)


def save(preset: UserPreset, *, overwrite: bool = True) -> Path:
    """Write ``preset`` to the store (atomically); returns its path."""
    from .media.atomic import AtomicOutput
    from .errors import OutputError

    folder = store_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the presets folder ({exc.strerror or exc})") from None
    path = _stored_path(preset.name)
    with AtomicOutput(path, overwrite=overwrite) as temp:
        temp.write_text(preset.to_json())
    return path


def delete(name: str) -> None:
    """Remove the saved preset ``name`` (UsageError when there is none)."""
    path = _stored_path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise PresetNotFoundError(f"no preset named {name!r} in {store_dir()}") from None


def list_names() -> list[str]:
    """Names of the saved presets, sorted (files whose names are not preset names are ignored)."""
    folder = store_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if NAME_PATTERN.fullmatch(p.stem) and p.is_file())
