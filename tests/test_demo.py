"""The demo page (demo.py, pixelbayes/server.py): its API over HTTP, the server's stops,
and the page itself in a real headless browser (Chromium, driven by Selenium).

The server runs as a user starts it, `python demo.py --port=0`, on the shipped default
models and real MNIST from a private copy of the cache (the `no digit` thresholds are
cached beside it). The browser test skips on a machine without Chromium, but not under
CI (CI=true), where .ci/run installs it. DEMO_SCREENSHOT=docs/demo.png makes the browser
test also write the README's screenshot there."""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import ROOT


def ctrl_c_as_a_terminal():
    """In the child: SIGINT at its default, as in a terminal. A test run started in the
    background of a shell ignores SIGINT, and its children inherit that (Python then keeps
    it ignored), so Ctrl-C's test would wait for nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(env, *flags):
    """`python demo.py --port=0 flags`: the process and its address, once it serves."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "demo.py"), "--port=0", *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_a_terminal)
    line = proc.stdout.readline()                   # the first line on stdout says where it serves
    found = re.search(r"http://([\w.]+):(\d+)/", line)
    if not found:
        proc.kill()
        raise AssertionError(f"no address in {line!r}; stderr: {proc.stderr.read()[-2000:]}")
    return proc, f"http://127.0.0.1:{found.group(2)}"


@pytest.fixture(scope="module")
def server(real_env):
    proc, url = start(real_env)
    yield url
    proc.kill()
    proc.wait()


def request(url, data=None, method=None, headers=None):
    """(status, the JSON answer) of one request."""
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def sheet(lines, side=280, width=18):
    """PNG bytes of a white sheet with black strokes, each a list of (x, y) on it."""
    img = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(img)
    for points in lines:
        draw.line(points, fill=0, width=width, joint="curve")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


SEVEN = [[(70, 70), (210, 70), (120, 230)]]             # a bar and a diagonal: a 7


def test_a_drawn_seven_is_seven_and_a_blank_sheet_no_digit(server):
    status, seven = request(server + "/api/read", sheet(SEVEN))
    assert status == 200 and seven["verdict"] == "digit" and seven["digit"] == 7
    assert abs(sum(seven["posterior"]) - 1) < 1e-3 and max(seven["posterior"]) == seven["posterior"][7]
    assert np.array(seven["form"]).shape == (28, 28) and np.array(seven["levels"]).shape == (10, 10)
    assert set(seven["limits"]) == {"log_px", "log_ratio"}
    status, blank = request(server + "/api/read", sheet([]))
    assert status == 200 and blank["verdict"] == "no digit" and blank["digit"] is None and "no_ink" in blank["low_scores"]


def test_completing_keeps_the_top_rows_and_drawing_gives_a_digit_in_reading_order(server):
    status, done = request(server + "/api/complete?keep=0.4&count=3&digits=2&seed=5", sheet(SEVEN))
    assert status == 200 and done["kept_rows"] == 4 and [c["digit"] for c in done["completions"]][0] == 7
    top = np.array(done["levels"])[:4]
    for c in done["completions"]:
        images = np.array(c["images"])
        assert images.shape == (3, 10, 10) and (images[:, :4] == top).all()      # kept as drawn
        assert images[:, 4:].any()                                              # the rest drawn
    status, drawn = request(server + "/api/draw?digit=3&seed=1")
    assert status == 200 and np.array(drawn["levels"]).shape == (10, 10) and np.array(drawn["levels"]).any()
    assert sorted(drawn["order"]) == list(range(100))
    again = request(server + "/api/draw?digit=3&seed=1")[1]
    assert again["levels"] == drawn["levels"]                                  # a seed is a drawing


def test_bad_requests_get_one_line_of_json_and_the_server_goes_on(server):
    too_big = b"\x89PNG" + bytes(2 << 20)
    cases = [("/api/read", too_big, 413), ("/api/read", b"not an image", 400), ("/api/read", b"", 400),
             ("/api/read", sheet(SEVEN)[:300], 400), ("/api/complete?keep=2", sheet(SEVEN), 400),
             ("/api/complete?count=x", sheet(SEVEN), 400), ("/api/nothing", b"x", 404)]
    for path, body, status in cases:
        got, answer = request(server + path, body)
        assert got == status and list(answer) == ["error"] and "\n" not in answer["error"], (path, answer)
        assert "Traceback" not in answer["error"]
    assert request(server + "/api/draw?digit=10")[0] == 400
    huge = Image.new("L", (5000, 5000), 255)                  # compresses to a few kB, decodes to 25 MB
    out = io.BytesIO()
    huge.save(out, "PNG")
    assert request(server + "/api/read", out.getvalue())[0] == 400
    assert request(server + "/api/read", sheet(SEVEN))[1]["digit"] == 7        # still serving


def test_concurrent_requests_all_get_their_answer(server):
    answers = [None] * 8
    bodies = [sheet(SEVEN) if i % 2 else sheet([]) for i in range(8)]

    def ask(i):
        answers[i] = request(server + "/api/read", bodies[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [a[1]["verdict"] for a in answers] == ["no digit", "digit"] * 4


def test_the_page_and_its_script_are_served_and_fetch_nothing_from_outside(server):
    for path in ("/", "/demo.js"):
        with urllib.request.urlopen(server + path, timeout=30) as r:
            text = r.read().decode()
        assert r.status == 200 and not re.search(r"(src|href)=\"(https?:)?//", text) and "https://" not in text


def test_sigterm_and_ctrl_c_stop_it_cleanly_and_another_host_is_announced(real_env, server):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc, url = start(real_env)
        assert request(url + "/api/info")[1]["size"] == 10
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip().endswith("stopped") and "Traceback" not in err
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "demo.py"), "--port=99999"], env=real_env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--port" in proc.stderr and "Traceback" not in proc.stderr
    port = int(server.rsplit(":", 1)[1])                   # the fixture's server holds this port
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "demo.py"), f"--port={port}"], env=real_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith(f"error: cannot serve on 127.0.0.1:{port}")
    assert "Traceback" not in proc.stderr
    proc, url = start(real_env, "--host=0.0.0.0")
    assert request(url + "/api/info")[0] == 200
    proc.terminate()
    assert "others on the network can reach the page" in proc.communicate(timeout=60)[1]


def browser():
    """A headless Chromium under Selenium, or a skip (a failure under CI) where there is none."""
    chromium = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not (chromium and driver):
        message = "no Chromium, chromedriver or selenium here (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message + " under CI")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,700"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_the_page_in_a_real_browser_reads_a_seven_drawn_with_the_mouse(server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver = browser()
    try:
        driver.get(server + "/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "profile tutorial" in d.find_element(By.ID, "status").text)
        ink = driver.find_element(By.ID, "ink")
        actions = ActionChains(driver, duration=10)
        # a 7 on the 280 px sheet; offsets are from its centre
        actions.move_to_element_with_offset(ink, -70, -70).click_and_hold()
        for x, y in [(-35, -70), (0, -70), (35, -70), (70, -70), (45, -30), (20, 10), (0, 50), (-20, 90)]:
            actions.move_to_element_with_offset(ink, x, y)
        actions.release().perform()
        wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-digit") == "7")
        assert driver.find_element(By.ID, "verdict").text == "7"
        width = driver.find_element(By.CSS_SELECTOR, "#bar7 .fill").get_attribute("style")
        assert re.search(r"width: (9\d|100)(\.\d)?%", width), width
        driver.execute_script("const k = document.getElementById('keep'); k.value = 45;"
                              "k.dispatchEvent(new Event('input'));")           # the line moved: keep the top
        driver.find_element(By.ID, "complete").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".completion")) == 3)
        assert driver.find_elements(By.CSS_SELECTOR, ".completion")[0].get_attribute("data-digit") == "7"
        assert "kept: the top 4 of 10 rows" in driver.find_element(By.ID, "outcome").text
        shot = os.environ.get("DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
        driver.save_screenshot(shot)
        assert Image.open(shot).size[0] >= 1000
        driver.find_element(By.ID, "draw").click()
        wait.until(lambda d: d.find_elements(By.ID, "drawn") and d.find_element(By.ID, "drawn").get_attribute("data-done"))
        driver.find_element(By.ID, "clear").click()
        wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-digit") == "none")
        assert driver.find_element(By.ID, "verdict").text == "no digit"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
