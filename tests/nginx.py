"""deploy/nginx.conf for tests: a copy with local upstreams and port, and a foreground nginx to run it.

    with run_nginx(["127.0.0.1:8081", "127.0.0.1:8082"], tmp_path) as (port, proc):
        ...  # http://127.0.0.1:{port}/ and ws://127.0.0.1:{port}/ws go through nginx

The compose hostnames (web1, web2) do not resolve outside compose, so the
server lines between `# upstream-servers-begin` and `# upstream-servers-end`
are replaced, in every such block (one per upstream); each block keeps its own
parameters (max_fails, fail_timeout).

`parse_nginx_conf` turns a configuration into nested directives, so tests can
ask what a location or an upstream really says instead of searching text.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers import free_port, require_program

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX = "/usr/sbin/nginx"
BEGIN, END = "# upstream-servers-begin", "# upstream-servers-end"
START_TIMEOUT_SECS = 10.0
STOP_TIMEOUT_SECS = 5.0

_BLOCK_RE = re.compile(rf"^([ \t]*){re.escape(BEGIN)}\n(.*?)^[ \t]*{re.escape(END)}[ \t]*$",
                       re.MULTILINE | re.DOTALL)
_SERVER_RE = re.compile(r"^\s*server\s+\S+((?:\s+[^;\s]+)*)\s*;", re.MULTILINE)
_LISTEN_RE = re.compile(r"^([ \t]*)listen\s+[^;]*;", re.MULTILINE)


def render_nginx_conf(upstreams: list[str], listen_port: int, tmpdir, *, source: Path = NGINX_CONF) -> Path:
    """Write tmpdir/nginx.conf: `source` (deploy/nginx.conf) with these upstream servers in every
    marked block, listening on 127.0.0.1:port.

    Under root, workers would otherwise drop to an unprivileged user that
    cannot enter a private test directory, so the copy runs them as root.
    """
    if not upstreams:
        raise ValueError("at least one upstream server is needed")
    text = Path(source).read_text()

    def servers(block: re.Match) -> str:
        indent, body = block.group(1), block.group(2)
        first = _SERVER_RE.search(body)
        params = first.group(1) if first else ""
        lines = "".join(f"{indent}server {addr}{params};\n" for addr in upstreams)
        return f"{indent}{BEGIN}\n{lines}{indent}{END}"

    text, blocks = _BLOCK_RE.subn(servers, text)
    if not blocks:
        raise ValueError(f"{source}: no {BEGIN!r} ... {END!r} block")

    listens = _LISTEN_RE.findall(text)
    if len(listens) != 1:
        raise ValueError(f"{source}: expected exactly one listen directive, found {len(listens)}")
    text = _LISTEN_RE.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen_port};", text)

    if hasattr(os, "geteuid") and os.geteuid() == 0 and not re.search(r"^\s*user\s", text, re.MULTILINE):
        text = "user root;\n" + text

    path = Path(tmpdir) / "nginx.conf"
    path.write_text(text)
    return path


def nginx_command(conf: Path, prefix, *extra: str) -> list[str]:
    prefix = str(Path(prefix).resolve()) + "/"
    return [NGINX, "-p", prefix, "-c", str(conf), "-e", prefix + "error.log", *extra]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _logs(tmpdir: Path) -> str:
    out = []
    for name in ("error.log", "nginx.stderr", "nginx.stdout"):
        path = tmpdir / name
        if path.exists() and path.stat().st_size:
            out.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
    return "\n".join(out)


@contextlib.contextmanager
def run_nginx(upstreams: list[str], tmpdir, *, source: Path = NGINX_CONF):
    """nginx in the foreground on a free port in front of `upstreams`; yields (port, process).
    `source` is the configuration to render (deploy/nginx.conf unless a test compares another).

    The access log (stdout) and error log (stderr) go to files in tmpdir. At
    exit exactly this process is stopped, by its PID (its workers follow it).
    """
    require_program(NGINX)
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = render_nginx_conf(upstreams, port, tmpdir, source=source)
    with open(tmpdir / "nginx.stdout", "wb") as out, open(tmpdir / "nginx.stderr", "wb") as err:
        proc = subprocess.Popen(nginx_command(conf, tmpdir, "-g", "daemon off;"),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not _answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}\n{_logs(tmpdir)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not answer on port {port} in {START_TIMEOUT_SECS}s\n"
                                   f"{_logs(tmpdir)}")
            time.sleep(0.05)
        yield port, proc
    finally:
        stop_nginx(proc)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def stop_nginx(proc: subprocess.Popen) -> None:
    """Stop the nginx master we started, by its PID; its workers go with it (or are ended by PID)."""
    if proc.poll() is not None:
        return
    workers = _children(proc.pid)
    # SIGTERM is nginx's fast shutdown: it does not wait for open WebSockets.
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in workers:  # only if the master could not take them down itself
        with contextlib.suppress(OSError):
            if "nginx" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- reading a configuration

_TOKEN_RE = re.compile(r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)""")


class Directive:
    """One directive: its name, its arguments (quotes removed) and, for a block, its children."""

    def __init__(self, name: str, args: list[str], children: list["Directive"] | None = None):
        self.name, self.args, self.children = name, args, children

    def __repr__(self) -> str:
        return f"Directive({self.name!r}, {self.args!r}{', {...}' if self.children is not None else ''})"

    def all(self, name: str) -> list["Directive"]:
        """The direct children called `name`, in order."""
        return [d for d in self.children or () if d.name == name]

    def args_of(self, name: str) -> list[str] | None:
        """The arguments of the one direct child `name` (None when there is none)."""
        found = self.all(name)
        if len(found) > 1:
            raise ValueError(f"{self.name} {self.args}: {name} appears {len(found)} times")
        return found[0].args if found else None

    def block(self, name: str, *args: str) -> "Directive":
        """The direct child block `name args...` (e.g. block("location", "=", "/ws"))."""
        for d in self.all(name):
            if d.children is not None and tuple(d.args) == args:
                return d
        raise KeyError(f"no block {name} {' '.join(args)} in {self.name} {' '.join(self.args)}")


def parse_nginx_conf(text: str) -> Directive:
    """The configuration as a tree of Directive (the root is named "main"). Comments are dropped;
    quoted strings (which may hold braces, like a JSON body in `return`) are single arguments."""
    root = Directive("main", [], [])
    stack, words = [root], []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read the configuration at {text[pos:pos + 40]!r}")
        pos = m.end()
        single, double, punct, word = m.groups()
        if punct is None and single is None and double is None and word is None:
            continue  # whitespace or a comment
        if punct is None:
            words.append(word if word is not None else (single if single is not None else double))
        elif punct == ";":
            if not words:
                raise ValueError("an empty directive")
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif punct == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        else:
            if words or len(stack) == 1:
                raise ValueError("unbalanced }")
            stack.pop()
    if words or len(stack) != 1:
        raise ValueError("the configuration ends inside a directive or block")
    return root
