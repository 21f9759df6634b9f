"""The web studio in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium):
the page as a person uses it. Screenshots go to .artifacts/browser/ (printed at the end) for a person to look
at. Every wait polls a condition of the page; none is a fixed sleep."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from web_helpers import ROOT, _mediapipe_files, start_server, web_home  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = ROOT / ".artifacts" / "browser"


@pytest.fixture(scope="module")
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    yield SHOTS
    print(f"\nbrowser screenshots: {SHOTS}")


@pytest.fixture
def server(web_home, synthetic_weights, tmp_path):
    weights = synthetic_weights("dav2_vits")
    work = tmp_path / "work"
    work.mkdir()
    running = start_server(["--weights", weights, "--model", "depth_anything_v2_vits", "--work-dir", work],
                           web_home, tmp_path / "server.log")
    yield running
    code = running.stop()  # Ctrl-C
    assert not list(work.iterdir()), "the server left temporary files behind"
    assert code == 130, running.log.read_text()
    assert "Traceback" not in running.log.read_text()


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1100",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait(driver, condition, what: str, timeout: float = 180.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def renders(driver) -> int:
    return int(driver.find_element("tag name", "body").get_attribute("data-render-count"))


def picture(driver, name: str, shots: Path) -> np.ndarray:
    """The photo area as the page shows it (also saved as a screenshot)."""
    import cv2

    png = driver.find_element("id", "compare").screenshot_as_png
    (shots / f"{name}.png").write_bytes(png)
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int16)


def message(driver) -> str:
    return driver.find_element("id", "message").text


def test_photo_tap_to_focus_slider_presets_and_download(server, browser, shots, samples_dir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    portrait = samples_dir / "images" / "obama_official_portrait.jpg"
    browser.get(server.url)
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "page ready")
    browser.save_screenshot(str(shots / "01-page.png"))
    Select(browser.find_element("id", "approach")).select_by_value("depth_anything")
    browser.find_element("id", "photo-input").send_keys(str(portrait))
    wait(browser, lambda d: renders(d) >= 1, "first render")
    browser.find_element("id", "split").send_keys(Keys.HOME)  # the whole picture as rendered
    wait(browser, lambda d: d.find_element("id", "after").get_attribute("style").startswith("clip-path: inset(0px"),
         "after image uncovered")
    first = picture(browser, "02-rendered", shots)
    browser.save_screenshot(str(shots / "02-page-rendered.png"))

    # tap-to-focus: the top-left background
    compare = browser.find_element("id", "compare")
    size = compare.size
    ActionChains(browser).move_to_element_with_offset(compare, -size["width"] // 2 + 30,
                                                      -size["height"] // 2 + 40).click().perform()
    wait(browser, lambda d: renders(d) >= 2, "render after the tap")
    assert "at " in browser.find_element("id", "focus-state").text
    refocused = picture(browser, "03-focus-on-background", shots)
    assert np.abs(refocused - first).mean() > 1.0, "tapping elsewhere did not change the picture"

    # a slider, moved with the keyboard as a person would
    count = renders(browser)
    slider = browser.find_element("id", "max_blur")
    slider.send_keys(Keys.END)
    wait(browser, lambda d: renders(d) > count and not d.execute_script("return document.querySelector"
                                                                         "('.slider[data-setting=max_blur]')"
                                                                         ".classList.contains('default')"),
         "render after the slider")
    wait(browser, lambda d: renders(d) >= count + 1, "slider render")
    strong = picture(browser, "04-blur-max", shots)
    assert np.abs(strong - refocused).mean() > 1.0, "the blur slider did not change the picture"

    # save the settings as a preset, reload the page, load it back
    browser.find_element("id", "preset-name").send_keys("browser-look")
    browser.find_element("id", "preset-save").click()
    wait(browser, lambda d: "browser-look saved" in message(d), "preset saved")
    browser.refresh()
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "page reloaded")
    assert browser.find_element("id", "max_blur").get_attribute("value") != "0.08"
    Select(browser.find_element("id", "preset-list")).select_by_value("browser-look")
    browser.find_element("id", "preset-load").click()
    wait(browser, lambda d: "browser-look loaded" in message(d), "preset loaded")
    assert browser.find_element("id", "max_blur").get_attribute("value") == "0.08"
    assert browser.find_element("id", "approach").get_attribute("value") == "depth_anything"
    assert "at " in browser.find_element("id", "focus-state").text  # the focus point came back too
    browser.save_screenshot(str(shots / "05-preset-loaded.png"))

    # the photo again with the loaded preset: download the full-resolution result
    browser.find_element("id", "photo-input").send_keys(str(portrait))
    wait(browser, lambda d: renders(d) >= 1, "render with the preset")
    browser.find_element("css selector", "[data-view=mask]").click()
    wait(browser, lambda d: d.execute_script("const m = document.getElementById('map'); "
                                             "return !m.hidden && m.complete && m.naturalWidth > 0"), "mask shown")
    browser.save_screenshot(str(shots / "06-mask.png"))
    browser.find_element("id", "download").click()
    target = browser.downloads / "obama_official_portrait_bokeh.jpg"
    wait(browser, lambda d: target.is_file() and not list(browser.downloads.glob("*.crdownload")), "download")
    assert target.read_bytes()[:3] == b"\xff\xd8\xff"


def test_video_job_runs_to_the_end_and_survives_a_reload(server, browser, shots, tmp_path):
    from media_factory import make_clip

    clip = make_clip(tmp_path / "clip.mp4", width=160, height=120, frames=20)
    browser.get(server.url)
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "page ready")
    browser.find_element("css selector", "nav [data-tab=video]").click()
    browser.find_element("id", "video-input").send_keys(str(clip))
    wait(browser, lambda d: d.find_elements("css selector", "#jobs tbody tr"), "job listed")
    browser.save_screenshot(str(shots / "07-job-running.png"))
    wait(browser, lambda d: d.find_elements("css selector", "#jobs tr[data-state=done]")
         or d.find_elements("css selector", "#jobs tr[data-state=failed]"), "job finished")
    row = browser.find_element("css selector", "#jobs tbody tr")
    assert row.get_attribute("data-state") == "done", row.text
    assert "20/20" in row.text
    browser.refresh()
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "reloaded")
    browser.find_element("css selector", "nav [data-tab=video]").click()
    wait(browser, lambda d: d.find_elements("css selector", "#jobs tr[data-state=done] a.job-download"),
         "the finished job is still there after a reload")
    browser.save_screenshot(str(shots / "08-job-done-after-reload.png"))
    browser.find_element("css selector", "a.job-download").click()
    target = browser.downloads / "clip_bokeh.mp4"
    wait(browser, lambda d: target.is_file() and not list(browser.downloads.glob("*.crdownload")), "download")
    from media_factory import decoded_video

    assert len(decoded_video(target)[0]) == 20


def test_live_camera_streams_processed_frames_with_fps_and_latency(server, browser, shots):
    browser.get(server.url)
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1", "page ready")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "approach")).select_by_value("selfie")
    browser.find_element("css selector", "nav [data-tab=live]").click()
    browser.find_element("id", "live-start").click()
    stats = browser.find_element("id", "live-stats")
    wait(browser, lambda d: int(stats.get_attribute("data-frames") or 0) >= 20, "20 live frames", timeout=120)
    browser.save_screenshot(str(shots / "09-live.png"))
    fps, latency = float(stats.get_attribute("data-fps")), float(stats.get_attribute("data-latency-ms"))
    assert fps > 0 and latency > 0 and "fps" in stats.text and "latency" in stats.text
    browser.find_element("id", "live-stop").click()
    wait(browser, lambda d: d.find_element("id", "live-start").is_enabled(), "stopped")
    print(f"\nlive in headless Chromium: {fps:.1f} fps, latency {latency:.0f} ms")
