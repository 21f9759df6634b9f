// Live: the browser's camera -> the server over a WebSocket -> the processed frames on a canvas.
// One frame in flight at a time, so nothing queues and the latency shown is one round trip.

import { $, say } from "./util.js";
import { currentSettings } from "./settings.js";

let live = null;

function sendControls() {
  if (!live || live.ws.readyState !== WebSocket.OPEN) return;
  live.ws.send(JSON.stringify({ type: "controls", blur_scale: Number($("#live-blur").value),
    focus_offset: Number($("#live-focus").value) }));
}

function showStats(now) {
  live.times.push(now);
  while (live.times.length && now - live.times[0] > 2000) live.times.shift();
  const span = live.times.length > 1 ? (live.times.at(-1) - live.times[0]) / 1000 : 0;
  const fps = span > 0 ? (live.times.length - 1) / span : 0;
  const stats = $("#live-stats");
  stats.dataset.fps = fps.toFixed(1);
  stats.dataset.latencyMs = live.latency.toFixed(0);
  stats.dataset.frames = String(Number(stats.dataset.frames || 0) + 1);
  stats.textContent = `${fps.toFixed(1)} fps, latency ${live.latency.toFixed(0)} ms`;
}

async function start() {
  if (live) return;
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
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`);
  ws.binaryType = "blob";
  const mine = { ws, stream, sentAt: 0, times: [], latency: 0, running: true };
  live = mine;
  $("#live-start").disabled = true;
  $("#live-stop").disabled = false;
  const grab = document.createElement("canvas");
  const out = $("#live-output");

  const sendFrame = () => {
    if (!mine.running || ws.readyState !== WebSocket.OPEN) return;
    const w = video.videoWidth || 640, h = video.videoHeight || 480;
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grab.getContext("2d").drawImage(video, 0, 0, w, h);
    grab.toBlob((blob) => { mine.sentAt = performance.now(); ws.send(blob); }, "image/jpeg", 0.85);
  };
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", settings: currentSettings() }));
  ws.onmessage = async (event) => {
    if (typeof event.data === "string") {
      const msg = JSON.parse(event.data);
      if (msg.type === "ready") { say(`live: ${msg.approach}`); sendControls(); sendFrame(); }
      else if (msg.type === "error") { say(`live: ${msg.error}`, true); stop(); }
      return;
    }
    const now = performance.now();
    mine.latency = now - mine.sentAt;
    sendFrame();
    const bitmap = await createImageBitmap(event.data);
    if (out.width !== bitmap.width || out.height !== bitmap.height) { out.width = bitmap.width; out.height = bitmap.height; }
    out.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    showStats(now);
  };
  ws.onclose = () => { if (live === mine) stop(); };
}

export function stop() {
  if (!live) return;
  const mine = live;
  live = null;
  mine.running = false;
  try { mine.ws.close(); } catch (_) { /* closed already */ }
  for (const track of mine.stream.getTracks()) track.stop();
  $("#live-start").disabled = false;
  $("#live-stop").disabled = true;
  $("#live-stats").textContent = "stopped";
}

export function initLive() {
  $("#live-start").addEventListener("click", start);
  $("#live-stop").addEventListener("click", stop);
  for (const id of ["#live-blur", "#live-focus"]) $(id).addEventListener("input", sendControls);
}
