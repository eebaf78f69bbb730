"""Starting and stopping a real `fathom serve` for the server tests."""
import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parents[2]
FATHOM = ROOT / "build" / "release" / "fathom"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc, port, log_path):
        self.proc = proc
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log(self):
        return pathlib.Path(self.log_path).read_text(errors="replace")


@contextlib.contextmanager
def running_server(model, *extra, ready_timeout=120):
    """Runs `fathom serve --model MODEL EXTRA...` until the block ends (SIGTERM, then waits)."""
    port = free_port()
    log_path = f"/tmp/fathom-serve-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(FATHOM), "serve", "--model", str(model), "--port", str(port), "--threads", "2",
                                 *extra], stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, port, log_path)
    try:
        deadline = time.time() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fathom serve exited with {proc.returncode}:\n{server.log()}")
            try:
                if httpx.get(server.base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("fathom serve was not ready in time:\n" + server.log())
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(log_path)
