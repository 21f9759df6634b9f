// The settings panel: its controls <-> a settings object named like EffectSettings' fields (and like the
// preset files' "settings"). A slider left at its strategy's value sends nothing for that field.

import { $, $$ } from "./util.js";

const KNOWN = new Set(["approach", "strategy", "model", "max_blur", "dof", "aperture_blades", "highlight_bloom",
  "blur_foreground", "focus_point"]);
let extra = {};           // settings a loaded preset carries that the page has no control for (kept as they are)
let focusPoint = null;    // [x, y] as fractions of the picture, or null: focus on the main face

function sliderParts(box) {
  return { input: $("input", box), out: $("output", box), name: box.dataset.setting };
}

function showSlider(box) {
  const { input, out } = sliderParts(box);
  out.textContent = box.classList.contains("default") ? box.dataset.defaultLabel : input.value;
}

function setSlider(name, value) {
  const box = $(`.slider[data-setting="${name}"]`);
  box.classList.toggle("default", value === null || value === undefined);
  if (value !== null && value !== undefined) sliderParts(box).input.value = value;
  showSlider(box);
}

export function currentSettings() {
  const s = { ...extra };
  s.approach = $("#approach").value;
  s.strategy = $("#strategy").value;
  if ($("#model").value && /depth_anything|midas|hybrid/.test(s.approach)) s.model = $("#model").value;
  else delete s.model;
  for (const box of $$(".slider")) {
    const { input, name } = sliderParts(box);
    if (box.classList.contains("default")) delete s[name]; else s[name] = Number(input.value);
  }
  s.highlight_bloom = $("#highlight_bloom").checked;
  if ($("#blur_foreground").checked) s.blur_foreground = true; else delete s.blur_foreground;
  if (focusPoint) s.focus_point = focusPoint; else delete s.focus_point;
  delete s.focus;
  return s;
}

export function applySettings(settings) {
  extra = Object.fromEntries(Object.entries(settings).filter(([k]) => !KNOWN.has(k)));
  $("#approach").value = settings.approach || "auto";
  $("#strategy").value = settings.strategy || "portrait";
  $("#model").value = settings.model || "";
  for (const name of ["max_blur", "dof", "aperture_blades"]) setSlider(name, settings[name]);
  $("#highlight_bloom").checked = !!settings.highlight_bloom;
  $("#blur_foreground").checked = !!settings.blur_foreground;
  setFocus(settings.focus_point || null);
}

export function setFocus(point) {
  focusPoint = point;
  const mark = $("#focus-mark");
  mark.hidden = !point;
  if (point) {
    mark.style.left = `${point[0] * 100}%`;
    mark.style.top = `${point[1] * 100}%`;
    $("#focus-state").textContent = `at ${Math.round(point[0] * 100)}%, ${Math.round(point[1] * 100)}%`;
  } else {
    $("#focus-state").textContent = "on the main face";
  }
}

// Fill the menus from GET /api/health and call onChange whenever a control changes.
export function initSettings(health, onChange) {
  $("#approach").replaceChildren(...health.approaches.map((a) =>
    new Option(a.ready ? a.name : `${a.name} (downloads weights)`, a.name)));
  $("#strategy").replaceChildren(...health.strategies.map((s) => new Option(s, s)));
  for (const m of health.models) $("#model").append(new Option(m.cached ? m.name : `${m.name} (not cached)`, m.name));
  for (const box of $$(".slider")) {
    box.classList.add("default");
    showSlider(box);
    sliderParts(box).input.addEventListener("input", () => { box.classList.remove("default"); showSlider(box); onChange(); });
    $(".reset", box).addEventListener("click", () => { box.classList.add("default"); showSlider(box); onChange(); });
  }
  for (const el of $$("select[data-setting], input[type=checkbox][data-setting]")) el.addEventListener("change", onChange);
  $("#focus-reset").addEventListener("click", () => { setFocus(null); onChange(); });
}
