"""Open a local HTML file in real headless Chromium over the DevTools protocol (``--remote-debugging-pipe``)
and report what a user's browser would: every image's decoded width, console errors, uncaught
exceptions, JavaScript dialogs (an ``alert`` from injected markup), network failures; plus a
full-page screenshot.

    python tests/browser.py outputs/search/<run>/gallery.html docs/search_gallery.png
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--remote-debugging-pipe"]
IMAGES_JS = "JSON.stringify(Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]))"


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class _Pipe:
    """One DevTools session over Chromium's fds 3 (commands in) and 4 (replies and events out)."""

    def __init__(self, executable: str, profile: str, timeout: float):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # via fresh copies, so neither dup2 overwrites the other's source
            read_copy, write_copy = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(read_copy, 3)
            os.dup2(write_copy, 4)

        self.proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.timeout, self.buffer, self.next_id, self.events = timeout, b"", 0, []
        self.session = None

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self._event(self._read())

    def _event(self, message: dict) -> None:
        if "method" not in message:
            return
        self.events.append(message)
        if message["method"] == "Page.javascriptDialogOpening":  # answer it, or the page hangs
            self.next_id += 1
            os.write(self.to_chrome, json.dumps({"id": self.next_id, "method": "Page.handleJavaScriptDialog",
                                                 "params": {"accept": True}, "sessionId": self.session}).encode() + b"\0")

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_chrome], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {self.timeout} s")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)


def inspect_page(html: Path, screenshot: Path | None = None, width: int = 1400, timeout: float = 60) -> dict:
    """Load ``html`` from disk; return ``images`` ([alt, complete, naturalWidth]), ``errors``
    (console errors, exceptions, failed loads), ``dialogs`` and ``requests`` (every URL the page
    asked for besides itself), and write a full-page screenshot when asked."""
    executable = chromium()
    if executable is None:
        raise FileNotFoundError("chromium is not installed")
    url = Path(html).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="indirect-chromium-") as profile:
        pipe = _Pipe(executable, profile, timeout)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
            pipe.session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.call(f"{domain}.enable")
            pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                             "mobile": False})
            pipe.call("Page.navigate", {"url": url})
            pipe.wait_for("Page.loadEventFired")
            images = json.loads(pipe.call("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True})
                                ["result"]["value"])
            if screenshot is not None:
                shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        finally:
            pipe.close()
    return {"images": images, **_problems(pipe.events, url)}


def _problems(events: list[dict], url: str) -> dict:
    errors, dialogs, requests = [], [], []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            errors.append(f"load failed: {params.get('errorText')}")
        elif method == "Page.javascriptDialogOpening":
            dialogs.append(params.get("message", ""))
        elif method == "Network.requestWillBeSent":
            requested = params["request"]["url"]
            if requested != url and not requested.startswith("data:"):
                requests.append(requested)
    return {"errors": errors, "dialogs": dialogs, "requests": requests}


if __name__ == "__main__":
    report = inspect_page(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(json.dumps({k: v if k != "images" else len(v) for k, v in report.items()}, indent=1))
