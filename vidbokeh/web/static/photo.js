// The photo tab: upload once, re-render on every change (one request in flight, the latest settings next),
// tap-to-focus, before/after split, depth map and mask on demand, full-resolution download.

import { $, $$, api, jsonBody, say, saveBlob } from "./util.js";
import { currentSettings, setFocus } from "./settings.js";

const state = { photo: null, view: "result", rendering: false, pending: false, renders: 0 };

async function uploadPhoto(file) {
  const form = new FormData();
  form.append("image", file);
  say(`uploading ${file.name}...`);
  try {
    state.photo = await (await api("/api/photos", { method: "POST", body: form })).json();
    setFocus(null);
    $("#before").src = `/api/photos/${state.photo.id}/original`;
    $("#viewer").hidden = false;
    say(`${state.photo.name}: ${state.photo.width}x${state.photo.height} ${state.photo.format}`);
    settingsChanged();
  } catch (err) {
    say(err.message, true);
  }
}

export function settingsChanged() {
  if (!state.photo) return;
  if (state.rendering) { state.pending = true; return; }
  render();
}

async function showBlob(img, blob) {
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  await img.decode().catch(() => {});
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

async function render() {
  state.rendering = true;
  state.pending = false;
  try {
    const response = await api(`/api/photos/${state.photo.id}/render`,
      { method: "POST", ...jsonBody({ settings: currentSettings() }) });
    await showBlob($("#after"), await response.blob());
    const focus = response.headers.get("X-Focus");
    $("#render-info").textContent = `rendered in ${response.headers.get("X-Render-Ms")} ms` +
      (focus ? `, focus plane ${Number(focus).toFixed(3)}` : "");
    if (state.view !== "result") await showMap();
    state.renders += 1;
    document.body.dataset.renderCount = String(state.renders);
  } catch (err) {
    say(err.message, true);
  } finally {
    state.rendering = false;
    if (state.pending && state.photo) render();
  }
}

async function showMap() {
  const map = $("#map");
  if (state.view === "result") { map.hidden = true; return; }
  try {
    const response = await api(`/api/photos/${state.photo.id}/${state.view}`,
      { method: "POST", ...jsonBody({ settings: currentSettings() }) });
    await showBlob(map, await response.blob());
    map.hidden = false;
  } catch (err) {
    map.hidden = true;
    say(err.message, true);
  }
}

async function download() {
  if (!state.photo) return;
  try {
    const response = await api(`/api/photos/${state.photo.id}/download`,
      { method: "POST", ...jsonBody({ settings: currentSettings() }) });
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    saveBlob(await response.blob(), match ? match[1] : "bokeh");
  } catch (err) {
    say(err.message, true);
  }
}

export function initPhoto() {
  $("#compare").addEventListener("click", (event) => {
    const rect = $("#before").getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    const y = Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height));
    setFocus([Number(x.toFixed(4)), Number(y.toFixed(4))]);
    settingsChanged();
  });
  const split = () => { $("#after").style.clipPath = `inset(0 0 0 ${Number($("#split").value)}%)`; };
  $("#split").addEventListener("input", split);
  split();
  for (const b of $$("[data-view]")) {
    b.addEventListener("click", () => {
      state.view = b.dataset.view;
      for (const other of $$("[data-view]")) other.setAttribute("aria-pressed", String(other === b));
      if (state.photo) showMap();
    });
  }
  $("#download").addEventListener("click", download);
  $("#photo-input").addEventListener("change", (e) => e.target.files[0] && uploadPhoto(e.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) uploadPhoto(e.dataTransfer.files[0]);
  });
}
