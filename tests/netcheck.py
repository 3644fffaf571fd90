"""Run real `penny` commands and see where they connect: strace's connect() log, and a network namespace.

Used by tests/test_privacy.py, and runnable as a script inside `unshare -n` (where only a loopback exists,
so the HTTP requests of a serve session must come from inside the namespace too):

    unshare -n python tests/netcheck.py QUESTION.wav   # prints JSON timings
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from penny.adapters.llm.child import free_port

PENNY = [sys.executable, "-m", "penny"]
TRACED = "connect,sendto,sendmsg"
# The libraries' opt-outs: a test must not pass because the test process already set them.
QUIET_ENV = ("ORT_DISABLE_TELEMETRY", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_OFFLINE", "DO_NOT_TRACK")
_CALL = re.compile(r"^\d+\s+(?:connect|sendto|sendmsg)\((.*)$")
_FAMILY = re.compile(r"sa_family=(AF_\w+)(.*)$")
_IPV4 = re.compile(r'inet_addr\("([^"]+)"\)')
_IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')


def penny_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENNY_") and k not in QUIET_ENV}
    env.update(PENNY_HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def outside_connects(trace_text: str) -> tuple[list[str], int]:
    """(lines that address anything but loopback or a local socket, how many addressed loopback)."""
    bad, loopback = [], 0
    for line in trace_text.splitlines():
        call = _CALL.match(line)
        m = call and _FAMILY.search(call.group(1))
        if not m:  # no address: a send on a connected socket, or a syscall's resumed half
            continue
        family, rest = m.group(1), m.group(2)
        if family in ("AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"):
            continue
        ip = None
        if family == "AF_INET":
            found = _IPV4.search(rest)
            ip = found and found.group(1)
        elif family == "AF_INET6":
            found = _IPV6.search(rest)
            ip = found and found.group(1)
        try:
            addr = ipaddress.ip_address(ip) if ip else None
        except ValueError:
            addr = None
        mapped = getattr(addr, "ipv4_mapped", None)
        if addr is not None and (addr.is_loopback or (mapped is not None and mapped.is_loopback)):
            loopback += 1
        else:
            bad.append(line.strip())
    return bad, loopback


def strace_prefix(out: Path) -> list[str]:
    return ["strace", "-f", "-qq", "-s", "64", "-e", f"trace={TRACED}", "-o", str(out)]


def _http(url: str, body: dict | None = None, timeout: float = 120.0) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(re.search(r"^PPid:\s+(\d+)", (d / "status").read_text(), re.M).group(1))
            except (OSError, AttributeError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def run_file(wav: Path, home: Path, prefix: list[str] = (), timeout: float = 240) -> dict:
    t0 = time.monotonic()
    done = subprocess.run([*prefix, *PENNY, "run-file", str(wav)], env=penny_env(home), cwd=home.parent,
                          capture_output=True, text=True, timeout=timeout)
    return {"rc": done.returncode, "seconds": round(time.monotonic() - t0, 2), "stdout": done.stdout[-2000:],
            "stderr": done.stderr[-2000:]}


def serve_session(home: Path, prefix: list[str] = (), timeout: float = 240) -> dict:
    """`penny serve` on a free loopback port: wait until /api/health answers, one chat, one health, stop."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(home.parent / f"serve-{port}.log", "w+")
    t0 = time.monotonic()
    proc = subprocess.Popen([*prefix, *PENNY, "serve", "--port", str(port)], env=penny_env(home),
                            cwd=home.parent, stdout=log, stderr=subprocess.STDOUT)
    result: dict = {"port": port}
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"penny serve exited with {proc.returncode}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"penny serve did not answer in {timeout} s")
            try:
                status, _ = _http(base + "/api/health", timeout=30)
                break
            except OSError:
                time.sleep(0.25)
        result["ready_s"] = round(time.monotonic() - t0, 2)
        status, body = _http(base + "/api/chat", {"text": "What time is it?", "stream": False})
        result["chat"] = (status, json.loads(body or b"{}"))
        status, body = _http(base + "/api/health")
        result["health"] = (status, json.loads(body or b"{}").get("healthy"))
    finally:
        target = proc.pid
        if prefix:  # under strace: stop penny itself (strace ignores SIGINT while it traces a command)
            target = next(iter(_children(proc.pid)), proc.pid)
        try:
            os.kill(target, signal.SIGINT)
            proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        log.seek(0)
        result["log"] = log.read()[-3000:]
        log.close()
    result["seconds"] = round(time.monotonic() - t0, 2)
    return result


def loopback_up() -> None:
    """`ip link set lo up` without iproute2 (a fresh network namespace starts with lo down)."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def main(wav: str, home: str) -> None:
    loopback_up()
    home_path = Path(home)
    out = {"run_file": run_file(Path(wav), home_path), "serve": serve_session(home_path)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
