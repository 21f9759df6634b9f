// Video jobs: upload a clip with the current settings, follow its progress, cancel, download, remove.
// The list comes from the server (the browser session's jobs), so a reloaded page shows them again.

import { $, api, say } from "./util.js";
import { currentSettings } from "./settings.js";

let timer = null;

async function upload(file) {
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

function row(job) {
  const tr = document.createElement("tr");
  tr.dataset.job = job.id;
  tr.dataset.state = job.state;
  for (let i = 0; i < 4; i += 1) tr.append(document.createElement("td"));
  const bar = document.createElement("progress");
  bar.max = 1;
  if (job.progress !== null) bar.value = job.progress;
  const frames = job.frames_total ? `${job.frames_done}/${job.frames_total}` : `${job.frames_done}`;
  tr.cells[0].textContent = job.name;
  tr.cells[1].append(bar);
  tr.cells[2].textContent = job.error ? `${job.state}: ${job.error}` : `${job.state} (${frames} frames)`;
  const act = (label, method, url) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.className = `job-${label.toLowerCase()}`;
    b.onclick = () => api(url, { method }).then(refreshJobs, (e) => say(e.message, true));
    tr.cells[3].append(b);
  };
  if (job.state === "queued" || job.state === "running") {
    act("Cancel", "POST", `/api/jobs/${job.id}/cancel`);
  } else {
    if (job.state === "done") {
      const a = document.createElement("a");
      a.href = `/api/jobs/${job.id}/output`;
      a.download = job.download;
      a.textContent = "Download";
      a.className = "job-download";
      tr.cells[3].append(a, " ");
    }
    act("Remove", "DELETE", `/api/jobs/${job.id}`);
  }
  return tr;
}

export async function refreshJobs() {
  clearTimeout(timer);
  try {
    const body = await (await api("/api/jobs")).json();
    $("#jobs tbody").replaceChildren(...body.jobs.map(row));
    if (body.jobs.some((j) => j.state === "queued" || j.state === "running")) timer = setTimeout(refreshJobs, 700);
  } catch (err) {
    say(err.message, true);
  }
}

export function initJobs() {
  $("#video-input").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
  refreshJobs();
}
