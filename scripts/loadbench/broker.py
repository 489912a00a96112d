"""The broker process: /proc readings (CPU seconds, RSS), starting `sso-broker demo` on a
temporary SQLite database pointed at our Entra IdP, and the cold-start measurement."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from . import CLIENT_ID, HOST
from .entra_idp import EntraIdp

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    proc: subprocess.Popen
    port: int
    log: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float, poll: float = 0.002) -> float:
    """Seconds until GET /healthz answers 200 (polling a fresh connection every `poll` s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with status {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(poll)
    raise RuntimeError("broker did not answer /healthz in time")


def broker_env(data_dir: str, port: int, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_BROKER_")}
    env.update({
        "SSO_BROKER_DATA_DIR": data_dir,
        "SSO_BROKER_BIND": f"{HOST}:{port}",
        "SSO_BROKER_PUBLIC_URL": f"http://{HOST}:{port}",
    })
    env.update(extra or {})
    return env


def start_demo(binary: str, work: str, idp: EntraIdp, secret: str) -> Broker:
    port = free_port()
    log = os.path.join(work, "demo.log")
    env = broker_env(os.path.join(work, "demo-data"), port, {
        "SSO_BROKER_ENTRA_CLIENT_ID": CLIENT_ID,
        "SSO_BROKER_ENTRA_CLIENT_SECRET": secret,
        "SSO_BROKER_ENTRA_AUTHORITY": idp.authority,
        "SSO_BROKER_GRAPH_URL": idp.authority,
        "SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP": "1",
        # Each login connection says it is another client (X-Forwarded-For), as behind a proxy:
        # the per-address throttle counts attempts in flight, so 64 logins from one address
        # would measure the throttle, not the login.
        "SSO_BROKER_TRUSTED_PROXIES": HOST,
    })
    with open(log, "w") as out:
        proc = subprocess.Popen([binary, "demo"], env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_healthy(port, proc, timeout=120, poll=0.02)
    # The banner (token, IdP addresses) is printed just before the server runs.
    for _ in range(200):
        text = open(log).read()
        if "Operator API token" in text and re.search(r"ssob_\S+", text):
            break
        time.sleep(0.05)
    return Broker(proc, port, log)


def cold_start(binary: str, work: str, runs: int) -> tuple[list[float], dict[str, int]]:
    """exec → first 200 on /healthz of `serve` on a migrated SQLite database, and the memory of
    the last run one second after its first answer (idle, nothing asked of it)."""
    data = os.path.join(work, "cold-data")
    port = free_port()
    env = broker_env(data, port)
    subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    times, idle = [], {}
    for _ in range(runs):
        proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            times.append(wait_healthy(port, proc, timeout=60))
            time.sleep(1.0)
            idle = memory_kib(proc.pid)
        finally:
            Broker(proc, port, "").stop()
    return times, idle
