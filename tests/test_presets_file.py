"""User presets (vidbokeh/presets_file.py): the file format, the store, and one-line errors for bad files."""
from __future__ import annotations

import json

import pytest

from vidbokeh import presets_file
from vidbokeh.engine import EffectSettings
from vidbokeh.errors import PresetNotFoundError, UsageError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_save_load_round_trip_keeps_only_what_differs_from_the_defaults(home):
    settings = EffectSettings(strategy="adaptive", max_blur=0.05, focus_point=(0.5, 0.4), highlight_bloom=True,
                              aperture_blades=6)
    preset = presets_file.UserPreset("soft-look_2", presets_file.settings_to_values(settings))
    path = presets_file.save(preset)
    assert path == home / "presets" / "soft-look_2.json"
    data = json.loads(path.read_text())
    assert data == {"schema": 1, "name": "soft-look_2",
                    "settings": {"strategy": "adaptive", "focus_point": [0.5, 0.4], "max_blur": 0.05,
                                 "aperture_blades": 6, "highlight_bloom": True}}
    assert presets_file.list_names() == ["soft-look_2"]
    assert presets_file.load("soft-look_2").apply() == settings
    assert presets_file.resolve(str(path)).apply() == settings  # the same file named by its path
    presets_file.delete("soft-look_2")
    assert presets_file.list_names() == []


def test_apply_keeps_the_base_for_fields_the_preset_does_not_set():
    preset = presets_file.UserPreset("p", {"max_blur": 0.04})
    base = EffectSettings(approach="hybrid", video=True, depth_every=3)
    got = preset.apply(base)
    assert (got.approach, got.video, got.depth_every, got.max_blur) == ("hybrid", True, 3, 0.04)


def test_text_values_are_parsed_like_form_fields():
    got = presets_file.settings_from_values(
        {"max_blur": "0.1", "focus_point": "0.2, 0.3", "highlight_bloom": "on", "aperture_blades": "6",
         "focus": ""}, text=True)
    assert (got.max_blur, got.focus_point, got.highlight_bloom, got.aperture_blades, got.focus) == \
        (0.1, (0.2, 0.3), True, 6, None)


@pytest.mark.parametrize("text, problem", [
    ("{", "invalid JSON"),
    ("[]", "expected a JSON object"),
    ('{"name": "x", "settings": {}}', 'no "schema" version'),
    ('{"schema": 2, "name": "x", "settings": {}}', "schema 2 is newer"),
    ('{"schema": 1, "name": "x", "settings": [], "extra": 1}', "unknown key(s) extra"),
    ('{"schema": 1, "name": "x", "settings": []}', '"settings" must be a JSON object'),
    ('{"schema": 1, "name": "../x", "settings": {}}', "bad preset name"),
    ('{"schema": 1, "name": "x", "settings": {"wobble": 1}}', "unknown setting 'wobble'"),
    ('{"schema": 1, "name": "x", "settings": {"max_blur": "big"}}', "max_blur: expected a number"),
    ('{"schema": 1, "name": "x", "settings": {"highlight_bloom": 1}}', "highlight_bloom: expected true or false"),
    ('{"schema": 1, "name": "x", "settings": {"aperture_blades": 6.5}}', "aperture_blades: expected a whole"),
    ('{"schema": 1, "name": "x", "settings": {"focus_point": [1]}}', "focus_point: expected 2 numbers"),
    ('{"schema": 1, "name": "x", "settings": {"weights": "/etc/passwd"}}', "unknown setting 'weights'"),
])
def test_a_bad_preset_file_is_one_usage_error_line_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "look.json"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        presets_file.read_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_missing_and_unknown_presets_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="preset file not found"):
        presets_file.resolve(str(tmp_path / "nope.json"))
    presets_file.save(presets_file.UserPreset("kept", {}))
    with pytest.raises(PresetNotFoundError, match=r"no preset named 'nope' .*saved presets: kept"):
        presets_file.resolve("nope")
    with pytest.raises(PresetNotFoundError):
        presets_file.delete("nope")


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65, "a b", "a.json"])
def test_names_never_become_paths_outside_the_store(name):
    with pytest.raises(UsageError, match="bad preset name"):
        presets_file.UserPreset(name, {})
    with pytest.raises(UsageError):
        presets_file.load(name) if "/" not in name and not name.endswith(".json") else presets_file.check_name(name)


def test_list_ignores_files_that_are_not_presets(home):
    folder = home / "presets"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("x")
    (folder / "bad name.json").write_text("{}")
    presets_file.save(presets_file.UserPreset("b", {}))
    presets_file.save(presets_file.UserPreset("a", {}))
    assert presets_file.list_names() == ["a", "b"]
