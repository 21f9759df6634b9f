// vidbokeh studio: the page's entry point. Plain ES modules, no dependencies, no build step; they talk to
// the JSON/HTTP API of vidbokeh/web (described in README.md).

import { $, $$, api, say } from "./util.js";
import { initSettings } from "./settings.js";
import { initPhoto, settingsChanged } from "./photo.js";
import { initPresets } from "./presets.js";
import { initJobs, refreshJobs } from "./jobs.js";
import { initLive, stop as stopLive } from "./live.js";

function showTab(name) {
  for (const b of $$("nav button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const t of $$(".tab")) t.hidden = t.id !== `tab-${name}`;
  if (name === "video") refreshJobs();
  if (name !== "live") stopLive();
}

async function init() {
  const health = await (await api("/api/health")).json();
  $("#version").textContent = `v${health.version}`;
  initSettings(health, settingsChanged);
  initPhoto();
  initJobs();
  initLive();
  for (const b of $$("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  await initPresets(settingsChanged);
  document.body.dataset.ready = "1";
}

init().catch((err) => say(err.message, true));
