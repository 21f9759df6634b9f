// Presets: the same files as `--preset NAME` on the command line ($VIDBOKEH_HOME/presets).

import { $, api, jsonBody, say, saveBlob } from "./util.js";
import { applySettings, currentSettings } from "./settings.js";

let saved = {};  // name -> settings

async function refresh(select = null) {
  const list = $("#preset-list");
  try {
    const body = await (await api("/api/presets")).json();
    list.replaceChildren(...body.presets.map((p) => new Option(p.name, p.name)));
    saved = Object.fromEntries(body.presets.map((p) => [p.name, p.settings]));
    if (select) list.value = select;
    for (const bad of body.errors) say(bad.error, true);
  } catch (err) {
    say(err.message, true);
  }
}

const chosen = () => $("#preset-list").value;
const path = (name) => `/api/presets/${encodeURIComponent(name)}`;

async function save() {
  const name = $("#preset-name").value.trim() || chosen();
  if (!name) { say("give the preset a name", true); return; }
  try {
    await api(path(name), { method: "PUT", ...jsonBody({ settings: currentSettings() }) });
    await refresh(name);
    say(`preset ${name} saved`);
  } catch (err) {
    say(err.message, true);
  }
}

async function remove() {
  const name = chosen();
  if (!name) return;
  try {
    await api(path(name), { method: "DELETE" });
    await refresh();
    say(`preset ${name} deleted`);
  } catch (err) {
    say(err.message, true);
  }
}

async function exportFile() {
  const name = chosen();
  if (!name) return;
  try {
    saveBlob(await (await api(path(name))).blob(), `${name}.json`);
  } catch (err) {
    say(err.message, true);
  }
}

async function importFile(file) {
  const form = new FormData();
  form.append("file", file);
  try {
    const preset = await (await api("/api/presets/import", { method: "POST", body: form })).json();
    await refresh(preset.name);
    say(`preset ${preset.name} imported`);
  } catch (err) {
    say(err.message, true);
  }
}

export async function initPresets(onLoaded) {
  $("#preset-save").addEventListener("click", save);
  $("#preset-load").addEventListener("click", () => {
    const name = chosen();
    if (!name || !saved[name]) return;
    applySettings(saved[name]);
    $("#preset-name").value = name;
    say(`preset ${name} loaded`);
    onLoaded();
  });
  $("#preset-delete").addEventListener("click", remove);
  $("#preset-export").addEventListener("click", exportFile);
  $("#preset-import").addEventListener("change", (e) => e.target.files[0] && importFile(e.target.files[0]));
  await refresh();
}
