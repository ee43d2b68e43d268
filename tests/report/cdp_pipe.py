"""Open a page in headless Chromium and collect what its console and runtime report, with no extra package.

Chromium speaks the DevTools protocol over a pair of pipes when started with ``--remote-debugging-pipe``:
it reads NUL-terminated JSON commands on fd 3 and writes responses and events on fd 4. That gives the console
messages with their level (the ``--enable-logging=stderr`` lines do not say which ones are errors) without
a websocket client, selenium or chromedriver.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--window-size=1400,1000",
         "--remote-debugging-pipe"]


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")


@dataclass
class PageCheck:
    """What the browser saw: console errors, uncaught exceptions, failed loads and the page's own state."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.exceptions + self.log_errors


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int):
        self.w, self.r = os.fdopen(write_fd, "wb", buffering=0), read_fd
        self.q: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.q.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self.q.put(json.loads(msg))

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        return self.next_id

    def messages(self, deadline: float):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            msg = self.q.get(timeout=left)
            if msg is None:
                raise RuntimeError("Chromium closed the DevTools pipe")
            yield msg


def _high(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 64)
    os.close(fd)
    return new


def check_page(url: str, *, timeout: float = 90.0, settle_js: str = "document.documentElement.dataset.pageReady",
               state_js: str = "JSON.stringify(document.documentElement.dataset)",
               after: Callable[[Callable[..., dict]], None] | None = None) -> PageCheck:
    """Load `url`, wait until `settle_js` is ``"true"``, and return the errors seen and ``eval(state_js)``.

    `after`, if given, is called once the state is read with ``send(method, params=None)``, which sends one
    DevTools command to the page and returns its result (docs/img/make_screenshots.py captures screenshots).
    """
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    cmd_r, cmd_w = os.pipe()
    resp_r, resp_w = os.pipe()
    # the child's ends must not be 3 or 4 themselves, or the shell would close them after moving them
    cmd_r, resp_w = (_high(fd) for fd in (cmd_r, resp_w))
    user_dir = tempfile.mkdtemp(prefix="stressgen-chromium-")
    log = open(Path(user_dir) / "stderr.txt", "wb")  # noqa: SIM115 -- closed in finally
    # Chromium wants the pipes on fds 3 and 4 exactly; the shell moves them there before exec
    script = f'exec "$0" "$@" 3<&{cmd_r} 4>&{resp_w} {cmd_r}<&- {resp_w}>&-'
    proc = subprocess.Popen(["bash", "-c", script, binary, *FLAGS, f"--user-data-dir={user_dir}",
                             "about:blank"], pass_fds=(cmd_r, resp_w), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    os.close(cmd_r)
    os.close(resp_w)
    pipe = _Pipe(cmd_w, resp_r)
    out = PageCheck()
    deadline = time.monotonic() + timeout

    def call(method, params=None, session=None):
        i = pipe.send(method, params, session)
        for msg in pipe.messages(deadline):
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            record(msg)

    def record(msg):
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                               for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            out.log_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            call(f"{domain}.enable", session=session)
        call("Page.navigate", {"url": url}, session=session)
        while True:
            ready = call("Runtime.evaluate", {"expression": settle_js, "returnByValue": True}, session=session)
            if ready.get("result", {}).get("value") == "true":
                break
            time.sleep(0.2)
        state = call("Runtime.evaluate", {"expression": state_js, "returnByValue": True}, session=session)
        out.state = json.loads(state["result"]["value"])
        if after is not None:
            after(lambda method, params=None: call(method, params, session))
        try:
            call("Browser.close")
        except RuntimeError:
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        try:
            pipe.w.close()
        except OSError:
            pass
        shutil.rmtree(user_dir, ignore_errors=True)
    return out
