"""`archlang serve`: the playground's HTTP API against bad and hostile input, and a real
browser (headless Chromium, Playwright) through the page as a person uses it. One server and
one browser for the module; every wait is for a condition, never a sleep. Screenshots of the
journey go to out/serve-*.png."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"
CHROMIUM = "/usr/bin/chromium"

SMALL = "network tiny : 3x32x32 = conv3x3(8) -> relu -> maxpool -> flatten -> fc(10)\n"
SERVED = """\
# the spec the playground was started on
use "blocks.arch"
network served : 1x32x32 =
    unit(6) -> maxpool
    -> unit(16) -> maxpool
    -> flatten -> fc(10)
"""


# ------------------------------------------------------------------ the server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder with the served spec and a block file beside it, inside a folder that holds a
    spec the playground must never read."""
    base = tmp_path_factory.mktemp("serve")
    (base / "secret.arch").write_text("block secret = relu\n")
    folder = base / "project"
    folder.mkdir()
    (folder / "blocks.arch").write_text("block unit(c) = conv3x3(c) -> relu\n")
    (folder / "served.arch").write_text(SERVED)
    (folder / "link.arch").symlink_to(base / "secret.arch")
    return folder


@pytest.fixture(scope="module")
def server(served):
    """`python -m archlang.serve SPEC --port 0`, as `archlang serve` runs it; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlang.serve", str(served / "served.arch"), "--port", "0"],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert match, f"no URL in {line!r}"
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its stderr drained
    yield {"port": int(match.group(1)), "url": match.group(0), "proc": proc}
    proc.terminate()
    assert proc.wait(timeout=10) == 0  # SIGTERM stops it cleanly: workers ended, status 0


def request(server, method, path, body=None, headers=None, timeout=20):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def check(server, spec, **fields):
    status, headers, data = request(server, "POST", "/api/check", json.dumps({"spec": spec, **fields}),
                                    {"Content-Type": "application/json"})
    assert status == 200, data
    return json.loads(data)


def alive(server):
    assert check(server, SMALL)["summary"]["total_params"] == 8 * 27 + 8 + 8 * 16 * 16 * 10 + 10


# ------------------------------------------------------------------ the API


def test_check_answers_networks_table_totals_diagram_and_located_errors(server):
    answer = check(server, SMALL, collapse=True)
    assert answer["networks"] == ["tiny"] and answer["errors"] == []
    assert [row["name"] for row in answer["table"]] == ["conv1", "relu1", "maxpool1", "flatten1", "fc1"]
    assert answer["table"][0] | {"family": "conv"} == {"name": "conv1", "op": "conv 3x3, 8", "output": "8x32x32",
                                                       "params": "224", "macs": "221,184", "rf": "3", "jump": "1",
                                                       "family": "conv"}
    assert answer["summary"]["signature"] == "3x32x32 -> 10"
    assert answer["svg"].lstrip().startswith("<?xml") and "</svg>" in answer["svg"]

    answer = check(server, SMALL.replace("relu", "rleu"), name="mine.arch")
    (error,) = answer["errors"]
    assert (error["line"], error["column"], error["end_column"], error["here"]) == (1, 40, 44, True)
    assert error["message"] == "unknown layer or block 'rleu'" and error["hint"] == "did you mean 'relu'?"
    assert answer["name"] == "mine.arch" and answer["svg"] is None


def test_bad_specs_are_diagnostics_never_server_errors(server):
    nasty = ["", "\0" * 100, "network n : 3 = relu\ud800", "(" * 5000, "network n : 3x8x8 = " + "(" * 200 + "relu",
             "network n : 1 = relu * 99999999999999999999", "\x89PNG\r\n\x1a\n" + "\ufffd" * 50,
             "network n : 3x8x8 = conv3x3(8) -> ??? -> relu", "# " + "x" * (1 << 20)]
    for spec in nasty:
        answer = check(server, spec)
        assert isinstance(answer["errors"], list) and all(e["kind"] != "internal" for e in answer["errors"]), spec[:40]
    assert "over the 1,048,576-byte limit" in check(server, nasty[-1])["errors"][0]["message"]


def test_a_url_encoded_spec_must_be_utf8_and_within_the_limit(server):
    status, _, data = request(server, "GET", "/api/check?spec=" + quote(SMALL))
    assert status == 200 and json.loads(data)["networks"] == ["tiny"]
    status, headers, data = request(server, "GET", "/api/check?spec=network%20n%FF%FE")
    assert status == 400 and "not UTF-8" in json.loads(data)["error"]
    status, headers, data = request(server, "GET", "/?spec=%C3%28")  # a share link with bad bytes: a clear page
    assert status == 400 and headers["Content-Type"].startswith("text/html") and b"not UTF-8" in data
    status, _, data = request(server, "GET", "/api/check?spec=" + "%20" * 30_000)  # 90 KB of URL
    assert status == 414 and "limit" in json.loads(data)["error"]
    alive(server)


def test_bodies_that_are_too_large_binary_or_not_json_get_clear_http_errors(server):
    json_type = {"Content-Type": "application/json"}
    status, _, data = request(server, "POST", "/api/check", b"x" * 10_000_000, json_type)
    assert status == 413 and "over the 4,194,304-byte limit" in json.loads(data)["error"]
    binary = bytes(range(256)) * 64
    status, _, data = request(server, "POST", "/api/check", binary, {"Content-Type": "application/octet-stream"})
    assert status == 415 and "send JSON" in json.loads(data)["error"]
    status, _, data = request(server, "POST", "/api/check", binary, json_type)
    assert status == 400 and "not UTF-8" in json.loads(data)["error"]
    for body, words in [(b"{", "not JSON"), (b"[1]", "JSON object"), (b'{"spec": 3}', '"spec" must be'),
                        (b'{"spec": "", "rankdir": "XY"}', "rankdir"), (b"[" * 100_000, "")]:
        status, _, data = request(server, "POST", "/api/check", body, json_type)
        assert status == 400 and words in json.loads(data)["error"]
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10)
    conn.putrequest("POST", "/api/check")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()  # no Content-Length
    assert conn.getresponse().status == 411
    conn.close()
    for path in ("/static/../server.py", "/static/app.py", "/nothing", "/api/spec/..%2Fetc"):
        assert request(server, "GET", path)[0] == 404
    assert request(server, "GET", "/api/meta", headers={"Host": "evil.example:80"})[0] == 403  # DNS rebinding
    status = request(server, "POST", "/api/check", json.dumps({"spec": SMALL}),
                     {**json_type, "Origin": "https://evil.example"})[0]
    assert status == 403
    assert request(server, "GET", "/api/check?spec=x", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    alive(server)


def test_use_reads_the_bundled_library_and_the_served_folder_only(server, served):
    answer = check(server, 'use "blocks.arch"\nuse "resnet"\nnetwork n : 3x32x32 = unit(8) -> stem\n',
                   name="served.arch")
    assert answer["errors"] == [] and answer["summary"]["layers"] == 6
    for written in ("../secret.arch", str(served.parent / "secret.arch"), "link.arch", "/etc/passwd.arch",
                    "../../../../../../etc/x.arch"):
        answer = check(server, f'network n : 3 = relu\nuse "{written}"\n', name="served.arch")
        (error,) = answer["errors"]
        assert (error["line"], error["column"], error["here"]) == (2, 1, True), written
        assert error["message"] == (f"the playground does not read '{written}': it is outside the bundled library "
                                    "and the served spec's folder")


def test_a_flood_of_requests_is_answered_and_the_server_stays_up(server):
    def one(i):
        try:
            return request(server, "GET", f"/api/check?spec=network%20n{i}%20%3A%203%20%3D%20rleu")[0]
        except OSError:
            return "refused"

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(one, range(100)))
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 20, statuses
    # requests handled at once are capped: past the cap, 503 straight away, without reading
    idle = [socket.create_connection(("127.0.0.1", server["port"])) for _ in range(64)]
    try:
        status, headers, data = request(server, "GET", "/api/meta", timeout=5)
        assert status == 503 and headers["Retry-After"] == "1" and b"busy" in data
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while request(server, "GET", "/api/meta")[0] == 503:  # the idle connections' threads end
        assert time.monotonic() < deadline
    alive(server)


def test_an_analysis_past_its_time_bound_is_stopped_and_the_next_one_runs():
    from archlang.serve.server import Playground, make_server

    server = make_server(Playground(timeout=0.2, workers=1), port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        where = {"port": server.port}
        start = time.monotonic()
        answer = check(where, "network big : 8 = relu * 90000\n")
        assert time.monotonic() - start < 5
        assert answer["errors"][0]["message"] == "the analysis took longer than 0.2 s and was stopped"
        assert check(where, SMALL)["errors"] == []  # a fresh worker took the killed one's place
    finally:
        server.shutdown()
        server.server_close()


def test_onnx_download(server, tmp_path):
    # over HTTP, a spec with errors gets them located (422), as /api/check gives them
    status, _, data = request(server, "POST", "/api/onnx", json.dumps({"spec": "network n : 3 = rleu"}),
                              {"Content-Type": "application/json"})
    assert status == 422 and json.loads(data)["errors"][0]["line"] == 1
    # the export a worker runs (in this process: a worker would import onnx, a second of the budget)
    import onnx
    from archlang.serve import analysis

    answer = analysis.onnx({"spec": SMALL, "filename": str(tmp_path / "t.arch"), "network": None,
                            "roots": [str(tmp_path)], "path": str(tmp_path / "model.onnx")})
    assert answer == {"written": str(tmp_path / "model.onnx"), "network": "tiny"}
    model = onnx.load(tmp_path / "model.onnx")
    assert [i.name for i in model.graph.input] == ["input"]


def test_serve_is_an_archlang_command(capsys):
    from archlang import cli
    from archlang.serve.cli import run

    args = cli._parser().parse_args(["serve", "resnet50", "--port", "0"])
    assert args.run is run and args.port == 0 and args.host == "127.0.0.1"


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    assert os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM}: `make setup` installs Debian's chromium"
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_the_playground_in_a_browser(server, browser):
    from playwright.sync_api import expect

    OUT.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))

    # load: the served spec, analysed, drawn
    page.goto(server["url"])
    expect(page.locator("#status-text")).to_have_text("served: no errors")
    expect(page.locator("#filename")).to_have_text("served.arch")
    expect(page.locator("#t-params")).to_have_text("11,190")
    page.wait_for_selector(".stage svg")
    page.screenshot(path=OUT / "serve-1-load.png")

    # pick resnet50 from the examples: its file, its diagram, its totals
    page.select_option("#examples", "resnet50")
    expect(page.locator("#t-params")).to_have_text("25,557,032")
    expect(page.locator("#network")).to_have_value("resnet50")
    expect(page.locator(".stage svg > g > title")).to_have_text("resnet50")
    page.screenshot(path=OUT / "serve-2-resnet50.png")

    # a typo: the located error under its line within a second
    line = page.locator(".cm-line", has_text="-> bottleneck(128, 2) -> bottleneck(128) * 3").first
    line.click()
    page.keyboard.press("End")
    start = time.monotonic()
    page.keyboard.type(" -> rleu")
    diag = page.locator(".cm-diag")
    expect(diag).to_contain_text("unknown layer or block 'rleu'", timeout=1000)
    assert time.monotonic() - start < 1.0
    expect(diag).to_contain_text("did you mean 'relu'?")
    above = diag.evaluate("d => d.previousElementSibling.textContent")
    assert above.endswith("bottleneck(128) * 3 -> rleu")
    line_box, diag_box = page.locator(".cm-line", has_text="-> rleu").bounding_box(), diag.bounding_box()
    assert 0 <= diag_box["y"] - (line_box["y"] + line_box["height"]) < 4
    expect(page.locator("#status-text")).to_have_text("1 error")
    page.screenshot(path=OUT / "serve-3-typo.png")

    # fixed: the error goes
    for _ in " -> rleu":
        page.keyboard.press("Backspace")
    expect(page.locator("#status-text")).to_have_text("resnet50: no errors")
    expect(diag).to_have_count(0)

    # collapse: repeated blocks become one box with a badge
    page.check("#collapse")
    badge = page.locator(".stage svg text", has_text="×5").first
    expect(badge).to_be_attached()
    badge.scroll_into_view_if_needed()
    page.screenshot(path=OUT / "serve-4-collapsed.png")

    # share: a new page on the link has the same spec, network and options
    page.click("#share")
    url = page.input_value("#share-url")
    assert url.startswith(server["url"] + "?spec=")
    page.screenshot(path=OUT / "serve-5-share.png")
    text = page.evaluate("() => window.archlangPlayground.view.state.doc.toString()")
    shared = context.new_page()
    shared.goto(url)
    expect(shared.locator("#t-params")).to_have_text("25,557,032")
    expect(shared.locator("#collapse")).to_be_checked()
    assert shared.evaluate("() => window.archlangPlayground.view.state.doc.toString()") == text
    expect(shared.locator("#filename")).to_have_text("resnet.arch")
    shared.click("[data-tab=layers]")
    expect(shared.locator("#layer-rows tr")).to_have_count(175)
    shared.screenshot(path=OUT / "serve-6-shared-layers.png")
    assert problems == []
    context.close()
