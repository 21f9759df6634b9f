"""The web studio's HTTP API, in process (Starlette's TestClient runs the app and its lifespan)."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from web_helpers import _mediapipe_files, make_client, web_home  # noqa: F401 (fixtures)

PORTRAIT = "images/obama_official_portrait.jpg"


@pytest.fixture
def portrait(samples_dir) -> Path:
    return samples_dir / PORTRAIT


def _decode(data: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable image"
    return img


def _error(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_health_names_the_version_and_the_approaches(make_client):
    from vidbokeh import __version__

    body = make_client().get("/api/health").json()
    assert body["version"] == __version__
    names = [a["name"] for a in body["approaches"]]
    assert {"auto", "selfie", "depth_anything", "midas", "hybrid"} <= set(names)
    assert next(a for a in body["approaches"] if a["name"] == "selfie")["ready"] is True
    assert "portrait" in body["strategies"] and body["models"]


def test_the_page_and_its_assets_come_from_the_app_with_no_outside_url(make_client):
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    from vidbokeh.web.app import STATIC

    assets = sorted(p.name for p in STATIC.iterdir())
    assert "studio.js" in assets and "studio.css" in assets
    for asset in assets:
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200
        assert not re.search(r"(https?|wss?):?//[A-Za-z0-9]", response.text), asset  # no CDN, no remote font
    assert "://" not in page.text
    assert "vidbokeh_session=" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]


def test_render_returns_the_bytes_vidbokeh_image_writes(make_client, portrait, tmp_path):
    from vidbokeh.engine import EffectSettings
    from vidbokeh.image_mode import process_image

    fields = {"approach": "selfie", "max_blur": "0.03", "aperture_blades": "6"}  # (selfie has no focus to set)
    response = make_client().post("/api/render", files={"image": ("portrait.jpg", portrait.read_bytes())},
                                  data=fields)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert 'filename="portrait_bokeh.jpg"' in response.headers["content-disposition"]
    out = tmp_path / "cli_bokeh.jpg"
    process_image(portrait, out, EffectSettings(approach="selfie", max_blur=0.03, aperture_blades=6))
    assert response.content == out.read_bytes()


def test_render_takes_a_saved_preset_and_fields_override_it(make_client, portrait, web_home):
    client = make_client()
    assert client.put("/api/presets/strong", json={"settings": {"approach": "selfie", "max_blur": 0.08}}).status_code == 200
    data = {"image": ("p.jpg", portrait.read_bytes())}
    strong = client.post("/api/render", files=data, data={"preset": "strong"})
    mild = client.post("/api/render", files=data, data={"preset": "strong", "max_blur": "0.005"})
    plain = client.post("/api/render", files=data, data={"approach": "selfie", "max_blur": "0.08"})
    assert strong.status_code == mild.status_code == 200
    assert strong.content == plain.content  # the preset's settings, exactly
    assert strong.content != mild.content  # the explicit field wins
    missing = client.post("/api/render", files=data, data={"preset": "nope"})
    assert missing.status_code == 404 and "no preset named 'nope'" in _error(missing)


@pytest.mark.parametrize("payload, status, words", [
    ((b"hello, not an image", {}), 415, "not a supported image"),
    ((b"\xff\xd8\xff\xe0" + b"\x00" * 200, {}), 400, ""),  # a JPEG header, then nothing decodable
    ((None, {"max_blur": "lots"}), 400, "max_blur: expected a number"),
    ((None, {"wobble": "1"}), 400, "unknown setting 'wobble'"),
    ((None, {"approach": "nonsense"}), 400, "nonsense"),
    ((None, {"preset": "../../etc/passwd"}), 400, "bad preset name"),
])
def test_bad_uploads_and_fields_are_json_errors(make_client, portrait, payload, status, words):
    data, fields = payload
    response = make_client().post("/api/render", files={"image": ("x.jpg", data or portrait.read_bytes())},
                                  data=fields)
    assert response.status_code == status, response.text
    assert words in _error(response)


def test_a_request_without_the_file_is_a_400_or_415(make_client):
    client = make_client()
    assert client.post("/api/render", data={"approach": "selfie"}).status_code == 415  # not multipart
    wrong_field = client.post("/api/render", files={"picture": ("p.jpg", b"\xff\xd8\xff")})
    assert wrong_field.status_code == 400 and "no file in the form field 'image'" in _error(wrong_field)
    assert client.post("/api/render", content=b"raw", headers={"content-type": "image/jpeg"}).status_code == 415


def test_uploads_over_the_limit_are_413_announced_or_streamed(make_client, portrait):
    client = make_client(max_upload_mb=0.05)  # 52 KB; the portrait is 240 KB
    response = client.post("/api/render", files={"image": ("p.jpg", portrait.read_bytes())})
    assert response.status_code == 413 and "limit is 0.05 MB" in _error(response)

    def chunks():  # no Content-Length: the limit applies while the body streams in
        data = portrait.read_bytes()
        for i in range(0, len(data), 16384):
            yield data[i:i + 16384]

    streamed = client.post("/api/photos", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert streamed.status_code == 413


def test_hosts_and_origins_that_are_not_this_server_are_refused(make_client, portrait):
    client = make_client()
    assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    response = client.post("/api/render", files={"image": ("p.jpg", portrait.read_bytes())},
                           headers={"origin": "http://evil.example"})
    assert response.status_code == 403 and "cross-origin" in _error(response)
    assert client.delete("/api/presets/x", headers={"origin": "null"}).status_code == 403
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):  # another site's page may not drive the camera socket
        with client.websocket_connect("ws://127.0.0.1:8000/api/live", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def test_no_path_traversal_through_static_files_or_names(make_client, portrait):
    client = make_client()
    for path in ("/static/../__init__.py", "/static/%2e%2e/app.py", "/static/..%2f..%2fpyproject.toml"):
        assert client.get(path).status_code == 404
    upload = client.post("/api/photos", files={"image": ("../../../etc/pass wd.jpg", portrait.read_bytes())})
    assert upload.json()["name"] == "pass_wd"
    assert client.put("/api/presets/..%2fescape", json={"settings": {}}).status_code in (400, 404)


def test_photo_workflow_tap_to_focus_maps_and_download(make_client, portrait, tmp_path):
    from vidbokeh.engine import EffectSettings
    from vidbokeh.image_mode import process_image

    client = make_client()
    photo = client.post("/api/photos", files={"image": ("portrait.jpg", portrait.read_bytes())})
    assert photo.status_code == 201
    info = photo.json()
    assert (info["width"], info["height"], info["format"]) == (820, 1024, "JPEG")
    pid = info["id"]
    original = client.get(f"/api/photos/{pid}/original")
    assert _decode(original.content).shape == (1024, 820, 3)

    def render(**settings):
        response = client.post(f"/api/photos/{pid}/render", json={"settings": {"approach": "selfie", **settings}})
        assert response.status_code == 200, response.text
        assert float(response.headers["x-render-ms"]) > 0
        return _decode(response.content).astype(np.int16)

    soft, strong = render(max_blur=0.01), render(max_blur=0.06)
    assert soft.shape == (1024, 820, 3) and np.abs(soft - strong).mean() > 1.0  # the slider changes the picture

    mask = client.post(f"/api/photos/{pid}/mask", json={"settings": {"approach": "selfie"}})
    assert mask.headers["content-type"] == "image/png"
    grey = _decode(mask.content)[..., 0]
    assert grey[400, 410] > 200 and grey[50, 20] < 50  # the face kept sharp, the corner not
    depth = client.post(f"/api/photos/{pid}/depth", json={"settings": {"approach": "selfie"}})
    assert depth.status_code == 400 and "no depth map" in _error(depth)

    download = client.post(f"/api/photos/{pid}/download", json={"settings": {"approach": "selfie", "max_blur": 0.04}})
    assert 'attachment; filename="portrait_bokeh.jpg"' == download.headers["content-disposition"]
    out = tmp_path / "cli.jpg"
    process_image(portrait, out, EffectSettings(approach="selfie", max_blur=0.04))
    assert download.content == out.read_bytes()


def test_each_browser_session_sees_only_its_own_photos_and_jobs(make_client, portrait, tmp_path):
    from media_factory import make_clip

    alice = make_client()
    pid = alice.post("/api/photos", files={"image": ("p.jpg", portrait.read_bytes())}).json()["id"]
    clip = make_clip(tmp_path / "clip.mp4", width=96, height=64, frames=6)
    job = alice.post("/api/jobs", files={"video": ("clip.mp4", clip.read_bytes())},
                     data={"settings": json.dumps({"approach": "selfie"})}).json()

    from starlette.testclient import TestClient

    bob = TestClient(alice.app, base_url="http://127.0.0.1:8000")  # same server, no cookie: another browser
    assert bob.post(f"/api/photos/{pid}/render", json={"settings": {}}).status_code == 404
    assert bob.get(f"/api/photos/{pid}/original").status_code == 404
    assert bob.get(f"/api/jobs/{job['id']}").status_code == 404
    assert bob.get(f"/api/jobs/{job['id']}/output").status_code == 404
    assert bob.get("/api/jobs").json() == {"jobs": []}
    assert [j["id"] for j in alice.get("/api/jobs").json()["jobs"]] == [job["id"]]


def _wait_for_job(client, job_id: str, states: tuple[str, ...], timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)  # polling the job's state
    raise AssertionError(f"job still {job['state']} after {timeout} s")


def test_a_video_job_runs_to_the_end_and_its_output_is_what_vidbokeh_file_writes(make_client, tmp_path):
    import av

    from media_factory import decoded_video, make_clip

    client = make_client()
    clip = make_clip(tmp_path / "clip.mp4", width=128, height=96, frames=12)
    created = client.post("/api/jobs", files={"video": ("my clip.mp4", clip.read_bytes())},
                          data={"settings": json.dumps({"approach": "selfie", "max_blur": 0.03})})
    assert created.status_code == 202, created.text
    job = _wait_for_job(client, created.json()["id"], ("done", "failed", "cancelled"))
    assert job["state"] == "done", job
    assert (job["frames_done"], job["frames_total"], job["progress"]) == (12, 12, 1.0)
    output = client.get(f"/api/jobs/{job['id']}/output")
    assert output.status_code == 200 and 'my_clip_bokeh.mp4' in output.headers["content-disposition"]
    got = tmp_path / "got.mp4"
    got.write_bytes(output.content)
    pts_in, _, size_in = decoded_video(clip)
    pts_out, _, size_out = decoded_video(got)
    assert pts_out == pts_in and size_out == size_in  # timing kept
    with av.open(str(got)) as container:
        assert container.streams.audio, "the audio track is kept"
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_a_cancelled_job_stops_and_leaves_no_files(make_client, tmp_path):
    from media_factory import make_clip

    client = make_client()
    clip = make_clip(tmp_path / "long.mp4", width=320, height=240, frames=300)
    job_id = client.post("/api/jobs", files={"video": ("long.mp4", clip.read_bytes())},
                         data={"settings": json.dumps({"approach": "selfie"})}).json()["id"]
    _wait_for_job(client, job_id, ("running",))
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    job = _wait_for_job(client, job_id, ("cancelled", "done", "failed"), timeout=60)
    assert job["state"] == "cancelled" and job["frames_done"] < 300
    assert client.get(f"/api/jobs/{job_id}/output").status_code == 409
    root = client.app.state.root
    assert not [p for p in root.rglob("*") if p.is_file() and p.suffix == ".mp4"]


def test_a_still_image_is_not_a_video_job(make_client, portrait):
    client = make_client()
    response = client.post("/api/jobs", files={"video": ("v.mp4", portrait.read_bytes())})
    assert response.status_code == 415 and "still image" in _error(response)
    response = client.post("/api/jobs", files={"video": ("v.mp4", b"plain text, not a video at all")})
    assert response.status_code == 415


def test_presets_api_saves_lists_exports_imports_and_deletes(make_client, web_home):
    client = make_client()
    saved = client.put("/api/presets/soft", json={"settings": {"max_blur": 0.02, "strategy": "adaptive"}})
    assert saved.json() == {"name": "soft", "settings": {"strategy": "adaptive", "max_blur": 0.02}}
    assert (web_home / "presets" / "soft.json").is_file()  # the file the CLI's --preset soft reads
    exported = client.get("/api/presets/soft")
    assert json.loads(exported.content) == {"schema": 1, "name": "soft", "settings": saved.json()["settings"]}
    imported = client.post("/api/presets/import", files={"file": ("x.json", exported.content)}, data={"name": "copy"})
    assert imported.status_code == 201 and imported.json()["name"] == "copy"
    assert [p["name"] for p in client.get("/api/presets").json()["presets"]] == ["copy", "soft"]
    bad = client.post("/api/presets/import", files={"file": ("bad.json", b'{"schema": 9}')})
    assert bad.status_code == 400 and "schema 9 is newer" in _error(bad)
    assert client.put("/api/presets/x", json={"settings": {"max_blur": "x"}}).status_code == 400
    assert client.delete("/api/presets/soft").status_code == 204
    assert client.delete("/api/presets/soft").status_code == 404
    (web_home / "presets" / "broken.json").write_text("{")
    listing = client.get("/api/presets").json()
    assert [p["name"] for p in listing["presets"]] == ["copy"] and listing["errors"][0]["name"] == "broken"


def test_live_socket_answers_each_frame_with_a_processed_frame(make_client, portrait):
    import cv2

    client = make_client()
    frame = cv2.resize(cv2.imread(str(portrait)), (640, 480))
    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    with client.websocket_connect("ws://127.0.0.1:8000/api/live") as ws:
        ws.send_json({"type": "start", "settings": {"approach": "selfie"}})
        assert ws.receive_json() == {"type": "ready", "approach": "selfie"}
        outputs = []
        for i in range(4):
            if i == 2:
                ws.send_json({"type": "controls", "blur_scale": 0.0, "focus_offset": 0.0})
            ws.send_bytes(jpeg)
            outputs.append(_decode(ws.receive_bytes()).astype(np.int16))
        assert outputs[0].shape == (480, 640, 3)
        assert np.abs(outputs[1] - frame).mean() > np.abs(outputs[3] - frame).mean()  # blur_scale 0: no blur
        ws.send_bytes(b"not a picture")
        error = ws.receive_json()
        assert error["type"] == "error" and "not a JPEG or PNG" in error["error"]
    huge = cv2.imencode(".jpg", np.zeros((4100, 4100, 3), np.uint8))[1].tobytes()  # small file, huge picture
    with client.websocket_connect("ws://127.0.0.1:8000/api/live") as ws:
        ws.send_json({"type": "start", "settings": {"approach": "selfie"}})
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(huge)
        assert "at most 4096 pixels a side" in ws.receive_json()["error"]


def test_shutdown_removes_every_temporary_file(make_client, portrait, tmp_path):
    (tmp_path / "work").mkdir()
    client = make_client(work_dir=tmp_path / "work")
    client.post("/api/photos", files={"image": ("p.jpg", portrait.read_bytes())})
    root = client.app.state.root
    assert root.is_dir()
    client.__exit__(None, None, None)
    assert not root.exists()


def test_a_missing_work_folder_is_one_line(tmp_path):
    from vidbokeh.errors import UsageError
    from vidbokeh.web import ServerSettings, create_app

    with pytest.raises(UsageError, match="work folder .* does not exist"):
        create_app(ServerSettings(work_dir=tmp_path / "nope"))


def test_finished_jobs_and_idle_sessions_are_removed_after_their_time_limits(make_client, portrait, tmp_path):
    from media_factory import make_clip

    client = make_client(job_ttl_s=0.05, session_ttl_s=3600)
    clip = make_clip(tmp_path / "clip.mp4", width=96, height=64, frames=4)
    job_id = client.post("/api/jobs", files={"video": ("clip.mp4", clip.read_bytes())},
                         data={"settings": json.dumps({"approach": "selfie"})}).json()["id"]
    assert _wait_for_job(client, job_id, ("done", "failed"))["state"] == "done"
    session = next(iter(client.app.state.sessions.all()))
    job_folder = session.jobs[job_id].folder
    assert job_folder.is_dir()
    deadline = time.monotonic() + 10
    while not client.app.state.jobs.expire(client.app.state.sessions.all()):  # what the periodic sweep calls
        assert time.monotonic() < deadline
        time.sleep(0.02)  # polling until the time limit has passed
    assert client.get(f"/api/jobs/{job_id}").status_code == 404 and not job_folder.exists()

    client.post("/api/photos", files={"image": ("p.jpg", portrait.read_bytes())})
    store = client.app.state.sessions
    assert store.expire_idle(now=time.monotonic() + 7200) == 1  # idle past the limit: closed, folder gone
    assert not session.folder.exists() and store.all() == []


def test_slider_changes_reuse_the_photos_analysis_and_match_vidbokeh_image(make_client, portrait, tmp_path,
                                                                           synthetic_weights):
    from vidbokeh.engine import EffectSettings
    from vidbokeh.image_mode import process_image

    weights = synthetic_weights("dav2_vits")
    client = make_client(weights=weights, weights_model="depth_anything_v2_vits")
    pid = client.post("/api/photos", files={"image": ("portrait.jpg", portrait.read_bytes())}).json()["id"]

    def render(**settings):
        response = client.post(f"/api/photos/{pid}/render", json={"settings": {"approach": "depth_anything", **settings}})
        assert response.status_code == 200, response.text
        return json.loads(response.headers["x-timings"]), _decode(response.content).astype(np.int16)

    first, _ = render()
    assert "analyse_depth" in first and "analyse_faces" in first  # the first render analyses the photo
    near, near_img = render(focus_point=[0.5, 0.3])
    far, far_img = render(focus_point=[0.05, 0.05], max_blur=0.05)
    for timings in (near, far):  # later ones only focus and render
        assert not any(k.startswith("analyse_") or k == "depth" for k in timings), timings
    assert np.abs(near_img - far_img).mean() > 1.0

    settings = {"approach": "depth_anything", "focus_point": [0.05, 0.05], "aperture_blades": 7}
    download = client.post(f"/api/photos/{pid}/download", json={"settings": settings})
    out = tmp_path / "cli.jpg"
    process_image(portrait, out, EffectSettings(approach="depth_anything", weights=weights,
                                                focus_point=(0.05, 0.05), aperture_blades=7))
    assert download.content == out.read_bytes()  # the cached analysis renders what `vidbokeh image` writes


def test_the_page_gets_a_preview_no_larger_than_set_and_the_download_stays_full_size(make_client, portrait,
                                                                                     synthetic_weights):
    """A slider change on a large photo renders a reduced copy of the cached analysis: it looks like the full
    render shrunk (the blur is a fraction of the diagonal; a focus point in pixels means the same place)."""
    import cv2

    weights = synthetic_weights("dav2_vits")
    client = make_client(weights=weights, weights_model="depth_anything_v2_vits", preview_pixels=200_000)
    pid = client.post("/api/photos", files={"image": ("portrait.jpg", portrait.read_bytes())}).json()["id"]
    for settings in ({"approach": "selfie", "max_blur": 0.05},
                     {"approach": "depth_anything", "focus_point": [700, 100], "aperture_blades": 6}):
        preview = client.post(f"/api/photos/{pid}/render", json={"settings": settings})
        assert preview.status_code == 200, preview.text
        small = _decode(preview.content)
        h, w = small.shape[:2]
        assert h * w <= 200_000 and abs(w / h - 820 / 1024) < 0.01
        full = _decode(client.post(f"/api/photos/{pid}/download", json={"settings": settings}).content)
        assert full.shape == (1024, 820, 3)
        shrunk = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)
        assert cv2.PSNR(small, shrunk) > 30.0, settings
        mask = client.post(f"/api/photos/{pid}/mask", json={"settings": settings})
        assert _decode(mask.content).shape[:2] == (h, w)
