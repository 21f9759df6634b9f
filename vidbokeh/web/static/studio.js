// vidbokeh studio: the page's logic. Plain ES module, no dependencies; talks to the JSON/HTTP API of
// vidbokeh/web (described in README.md).

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const state = {
  photo: null,          // {id, width, height, format, name}
  focusPoint: null,     // [x, y] as fractions of the picture, or null (focus on the main face)
  view: "result",       // result | depth | mask
  extra: {},            // settings a loaded preset carries that the page has no control for (kept as they are)
  rendering: false,     // a render request in flight
  pending: false,       // settings changed while it was in flight: render again when it is back
  renders: 0,
  jobsTimer: null,
  live: null,
};

// ---------------------------------------------------------------------------------------------- messages
function say(text, isError = false) {
  const el = $("#message");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

const jsonBody = (obj) => ({ headers: { "Content-Type": "application/json" }, body: JSON.stringify(obj) });

// ---------------------------------------------------------------------------------------------- settings
function sliderState(box) {
  return { input: $("input", box), out: $("output", box), name: box.dataset.setting };
}

function showSlider(box) {
  const { input, out } = sliderState(box);
  out.textContent = box.classList.contains("default") ? box.dataset.defaultLabel : input.value;
}

function setSlider(name, value) {
  const box = $(`.slider[data-setting="${name}"]`);
  const { input } = sliderState(box);
  box.classList.toggle("default", value === null || value === undefined);
  if (value !== null && value !== undefined) input.value = value;
  showSlider(box);
}

function currentSettings() {
  const s = { ...state.extra };
  s.approach = $("#approach").value;
  s.strategy = $("#strategy").value;
  if ($("#model").value) s.model = $("#model").value; else delete s.model;
  for (const box of $$(".slider")) {
    const { input, name } = sliderState(box);
    if (box.classList.contains("default")) delete s[name]; else s[name] = Number(input.value);
  }
  s.highlight_bloom = $("#highlight_bloom").checked;
  if ($("#blur_foreground").checked) s.blur_foreground = true; else delete s.blur_foreground;
  if (state.focusPoint) s.focus_point = state.focusPoint; else delete s.focus_point;
  delete s.focus;
  if (s.model && !s.approach.match(/depth_anything|midas|hybrid/)) delete s.model;
  return s;
}

function applySettings(settings) {
  const known = new Set(["approach", "strategy", "model", "max_blur", "dof", "aperture_blades", "highlight_bloom",
    "blur_foreground", "focus_point"]);
  state.extra = Object.fromEntries(Object.entries(settings).filter(([k]) => !known.has(k)));
  $("#approach").value = settings.approach || "auto";
  $("#strategy").value = settings.strategy || "portrait";
  $("#model").value = settings.model || "";
  for (const name of ["max_blur", "dof", "aperture_blades"]) setSlider(name, settings[name]);
  $("#highlight_bloom").checked = !!settings.highlight_bloom;
  $("#blur_foreground").checked = !!settings.blur_foreground;
  setFocus(settings.focus_point || null);
}

function setFocus(point) {
  state.focusPoint = point;
  const mark = $("#focus-mark");
  if (point) {
    mark.hidden = false;
    mark.style.left = `${point[0] * 100}%`;
    mark.style.top = `${point[1] * 100}%`;
    $("#focus-state").textContent = `at ${Math.round(point[0] * 100)}%, ${Math.round(point[1] * 100)}%`;
  } else {
    mark.hidden = true;
    $("#focus-state").textContent = "on the main face";
  }
}

function settingsChanged() {
  if (state.photo) scheduleRender();
}

// ---------------------------------------------------------------------------------------------- photo
async function uploadPhoto(file) {
  const form = new FormData();
  form.append("image", file);
  say(`uploading ${file.name}...`);
  try {
    const response = await api("/api/photos", { method: "POST", body: form });
    state.photo = await response.json();
    setFocus(null);
    $("#before").src = `/api/photos/${state.photo.id}/original`;
    $("#viewer").hidden = false;
    say(`${state.photo.name}: ${state.photo.width}x${state.photo.height} ${state.photo.format}`);
    scheduleRender();
  } catch (err) {
    say(err.message, true);
  }
}

function scheduleRender() {
  if (state.rendering) { state.pending = true; return; }
  render();
}

async function render() {
  state.rendering = true;
  state.pending = false;
  const photo = state.photo;
  const body = jsonBody({ settings: currentSettings() });
  try {
    const response = await api(`/api/photos/${photo.id}/render`, { method: "POST", ...body });
    const blob = await response.blob();
    const after = $("#after");
    const old = after.src;
    after.src = URL.createObjectURL(blob);
    await after.decode().catch(() => {});
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
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
    const old = map.src;
    map.src = URL.createObjectURL(await response.blob());
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    map.hidden = false;
  } catch (err) {
    map.hidden = true;
    say(err.message, true);
  }
}

function updateSplit() {
  const pos = Number($("#split").value);
  $("#after").style.clipPath = `inset(0 0 0 ${pos}%)`;
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

function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------------------------------------------------------------------------------------------- presets
async function refreshPresets(select = null) {
  const list = $("#preset-list");
  try {
    const body = await (await api("/api/presets")).json();
    list.replaceChildren(...body.presets.map((p) => new Option(p.name, p.name)));
    state.presets = Object.fromEntries(body.presets.map((p) => [p.name, p.settings]));
    if (select) list.value = select;
    for (const bad of body.errors) say(bad.error, true);
  } catch (err) {
    say(err.message, true);
  }
}

async function savePreset() {
  const name = $("#preset-name").value.trim() || $("#preset-list").value;
  if (!name) { say("give the preset a name", true); return; }
  try {
    await api(`/api/presets/${encodeURIComponent(name)}`, { method: "PUT", ...jsonBody({ settings: currentSettings() }) });
    await refreshPresets(name);
    say(`preset ${name} saved`);
  } catch (err) {
    say(err.message, true);
  }
}

function loadPreset() {
  const name = $("#preset-list").value;
  if (!name || !state.presets[name]) return;
  applySettings(state.presets[name]);
  $("#preset-name").value = name;
  say(`preset ${name} loaded`);
  settingsChanged();
}

async function deletePreset() {
  const name = $("#preset-list").value;
  if (!name) return;
  try {
    await api(`/api/presets/${encodeURIComponent(name)}`, { method: "DELETE" });
    await refreshPresets();
    say(`preset ${name} deleted`);
  } catch (err) {
    say(err.message, true);
  }
}

async function exportPreset() {
  const name = $("#preset-list").value;
  if (!name) return;
  try {
    saveBlob(await (await api(`/api/presets/${encodeURIComponent(name)}`)).blob(), `${name}.json`);
  } catch (err) {
    say(err.message, true);
  }
}

async function importPreset(file) {
  const form = new FormData();
  form.append("file", file);
  try {
    const preset = await (await api("/api/presets/import", { method: "POST", body: form })).json();
    await refreshPresets(preset.name);
    say(`preset ${preset.name} imported`);
  } catch (err) {
    say(err.message, true);
  }
}

// ---------------------------------------------------------------------------------------------- video jobs
async function uploadVideo(file) {
  const form = new FormData();
  form.append("video", file);
  form.append("settings", JSON.stringify(currentSettings()));
  say(`uploading ${file.name}...`);
  try {
    await api("/api/jobs", { method: "POST", body: form });
    say(`${file.name}: job started`);
  } catch (err) {
    say(err.message, true);
  }
  refreshJobs();
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.job = job.id;
  row.dataset.state = job.state;
  const bar = document.createElement("progress");
  bar.max = 1;
  if (job.progress !== null) bar.value = job.progress;
  const frames = job.frames_total ? `${job.frames_done}/${job.frames_total}` : `${job.frames_done}`;
  const cells = [job.name, null, job.error ? `${job.state}: ${job.error}` : `${job.state} (${frames} frames)`, null];
  for (const text of cells) row.append(document.createElement("td"));
  row.cells[0].textContent = cells[0];
  row.cells[1].append(bar);
  row.cells[2].textContent = cells[2];
  const actions = row.cells[3];
  const button = (label, handler) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.className = `job-${label.toLowerCase()}`;
    b.onclick = handler;
    actions.append(b);
  };
  if (job.state === "queued" || job.state === "running") {
    button("Cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }).then(refreshJobs, (e) => say(e.message, true)));
  } else {
    if (job.state === "done") {
      const a = document.createElement("a");
      a.href = `/api/jobs/${job.id}/output`;
      a.download = job.download;
      a.textContent = "Download";
      a.className = "job-download";
      actions.append(a, " ");
    }
    button("Remove", () => api(`/api/jobs/${job.id}`, { method: "DELETE" }).then(refreshJobs, (e) => say(e.message, true)));
  }
  return row;
}

async function refreshJobs() {
  clearTimeout(state.jobsTimer);
  try {
    const body = await (await api("/api/jobs")).json();
    $("#jobs tbody").replaceChildren(...body.jobs.map(jobRow));
    if (body.jobs.some((j) => j.state === "queued" || j.state === "running")) {
      state.jobsTimer = setTimeout(refreshJobs, 700);
    }
  } catch (err) {
    say(err.message, true);
  }
}

// ---------------------------------------------------------------------------------------------- live
async function startLive() {
  if (state.live) return;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    say(`camera: ${err.message}`, true);
    return;
  }
  const video = $("#live-camera");
  video.srcObject = stream;
  await video.play();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/live`);
  ws.binaryType = "blob";
  const live = { ws, stream, sentAt: 0, times: [], latency: 0, running: true };
  state.live = live;
  $("#live-start").disabled = true;
  $("#live-stop").disabled = false;
  const grab = document.createElement("canvas");
  grab.width = 640; grab.height = 480;
  const out = $("#live-output");

  const sendFrame = () => {
    if (!live.running || ws.readyState !== WebSocket.OPEN) return;
    const w = video.videoWidth || 640, h = video.videoHeight || 480;
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grab.getContext("2d").drawImage(video, 0, 0, w, h);
    grab.toBlob((blob) => { live.sentAt = performance.now(); ws.send(blob); }, "image/jpeg", 0.85);
  };
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", settings: currentSettings() }));
  ws.onmessage = async (event) => {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      if (msg.type === "ready") { say(`live: ${msg.approach}`); sendControls(); sendFrame(); }
      else if (msg.type === "error") { say(`live: ${msg.error}`, true); stopLive(); }
      return;
    }
    const now = performance.now();
    live.latency = now - live.sentAt;
    live.times.push(now);
    while (live.times.length && now - live.times[0] > 2000) live.times.shift();
    sendFrame();
    const bitmap = await createImageBitmap(event.data);
    if (out.width !== bitmap.width || out.height !== bitmap.height) { out.width = bitmap.width; out.height = bitmap.height; }
    out.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    const span = live.times.length > 1 ? (live.times.at(-1) - live.times[0]) / 1000 : 0;
    const fps = span > 0 ? (live.times.length - 1) / span : 0;
    const stats = $("#live-stats");
    stats.dataset.fps = fps.toFixed(1);
    stats.dataset.latencyMs = live.latency.toFixed(0);
    stats.dataset.frames = String(Number(stats.dataset.frames || 0) + 1);
    stats.textContent = `${fps.toFixed(1)} fps, latency ${live.latency.toFixed(0)} ms`;
  };
  ws.onclose = () => stopLive();
}

function sendControls() {
  const live = state.live;
  if (!live || live.ws.readyState !== WebSocket.OPEN) return;
  live.ws.send(JSON.stringify({ type: "controls", blur_scale: Number($("#live-blur").value),
    focus_offset: Number($("#live-focus").value) }));
}

function stopLive() {
  const live = state.live;
  if (!live) return;
  live.running = false;
  state.live = null;
  try { live.ws.close(); } catch (_) { /* closed already */ }
  for (const track of live.stream.getTracks()) track.stop();
  $("#live-start").disabled = false;
  $("#live-stop").disabled = true;
  $("#live-stats").textContent = "stopped";
}

// ---------------------------------------------------------------------------------------------- wiring
function showTab(name) {
  for (const b of $$("nav button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const t of $$(".tab")) t.hidden = t.id !== `tab-${name}`;
  if (name === "video") refreshJobs();
  if (name !== "live") stopLive();
}

async function init() {
  const health = await (await api("/api/health")).json();
  $("#version").textContent = `v${health.version}`;
  $("#approach").replaceChildren(...health.approaches.map((a) =>
    new Option(a.ready ? a.name : `${a.name} (downloads weights)`, a.name)));
  $("#strategy").replaceChildren(...health.strategies.map((s) => new Option(s, s)));
  for (const m of health.models) $("#model").append(new Option(m.cached ? m.name : `${m.name} (not cached)`, m.name));
  for (const box of $$(".slider")) {
    box.classList.add("default");
    showSlider(box);
    const { input } = sliderState(box);
    input.addEventListener("input", () => { box.classList.remove("default"); showSlider(box); settingsChanged(); });
    $(".reset", box).addEventListener("click", () => { box.classList.add("default"); showSlider(box); settingsChanged(); });
  }
  for (const el of $$("select[data-setting], input[type=checkbox][data-setting]")) el.addEventListener("change", settingsChanged);
  $("#focus-reset").addEventListener("click", () => { setFocus(null); settingsChanged(); });
  $("#compare").addEventListener("click", (event) => {
    const rect = $("#before").getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    const y = Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height));
    setFocus([Number(x.toFixed(4)), Number(y.toFixed(4))]);
    settingsChanged();
  });
  $("#split").addEventListener("input", updateSplit);
  updateSplit();
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
  $("#preset-save").addEventListener("click", savePreset);
  $("#preset-load").addEventListener("click", loadPreset);
  $("#preset-delete").addEventListener("click", deletePreset);
  $("#preset-export").addEventListener("click", exportPreset);
  $("#preset-import").addEventListener("change", (e) => e.target.files[0] && importPreset(e.target.files[0]));
  $("#video-input").addEventListener("change", (e) => e.target.files[0] && uploadVideo(e.target.files[0]));
  $("#live-start").addEventListener("click", startLive);
  $("#live-stop").addEventListener("click", stopLive);
  for (const id of ["#live-blur", "#live-focus"]) $(id).addEventListener("input", sendControls);
  for (const b of $$("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  await refreshPresets();
  refreshJobs();
  document.body.dataset.ready = "1";
}

init().catch((err) => say(err.message, true));
