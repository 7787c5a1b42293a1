"""Fixtures for the boto3 client tests: start the already-built `bedrock-stream local-bedrock`
binary on 127.0.0.1 (port 0, scripted engine), hand out boto3 clients pointed at it, and stop it.

Nothing is built here. The binary is `$BEDROCK_STREAM_BIN`, or `target/debug/bedrock-stream`
relative to the repository root.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT_S = 20.0
LISTENING = re.compile(r"local-bedrock listening on (http://127\.0\.0\.1:\d+)")


def binary_path() -> Path:
    raw = os.environ.get("BEDROCK_STREAM_BIN", "target/debug/bedrock-stream")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def session() -> boto3.Session:
    """The boto3 session of the tests: dummy keys (local-bedrock checks none), us-east-1."""
    return boto3.Session(
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local-secret",
        region_name="us-east-1",
    )


class LocalBedrock:
    """One running `bedrock-stream local-bedrock` process."""

    def __init__(self, *extra_args: str, engine: str = "scripted") -> None:
        binary = binary_path()
        if not binary.is_file():
            raise RuntimeError(
                f"{binary} does not exist: build it first (cargo build -p bedrock-stream) "
                "or set BEDROCK_STREAM_BIN"
            )
        self.stderr_lines: list[str] = []
        self._found = threading.Event()
        self.url: str | None = None
        self.proc = subprocess.Popen(
            [
                str(binary),
                "local-bedrock",
                "--listen",
                "127.0.0.1:0",
                "--engine",
                engine,
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        # Keep draining stderr for the whole life of the process so it never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._found.wait(STARTUP_TIMEOUT_S) or self.url is None:
            self.stop()
            raise RuntimeError(
                "local-bedrock did not print its address within "
                f"{STARTUP_TIMEOUT_S}s; stderr:\n" + "".join(self.stderr_lines)
            )

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            if self.url is None:
                m = LISTENING.search(line)
                if m:
                    self.url = m.group(1)
                    self._found.set()
        self._found.set()  # process exited: unblock the waiter

    def control(self, method: str, path: str, body: dict | None = None) -> dict | list | None:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"} if data else {},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def inject(self, kind: str, count: int = 1, exception: str | None = None, after: int | None = None) -> None:
        fault: dict = {"kind": kind, "count": count}
        if exception is not None:
            fault["exception"] = exception
        if after is not None:
            fault["after"] = after
        self.control("POST", "/_emulator/faults", fault)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_emulator/faults")

    def stats(self) -> dict:
        return self.control("GET", "/_emulator/stats")  # type: ignore[return-value]

    def client(self, read_timeout: float = 15.0):
        return session().client(
            "bedrock-runtime",
            endpoint_url=self.url,
            config=Config(
                # Retries off: legacy-mode "max_attempts" counts retries, not attempts
                # (max_attempts=1 still retries once), so say "total_max_attempts".
                retries={"total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=read_timeout,
            ),
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=2)


@pytest.fixture(scope="session")
def local_bedrock():
    server = LocalBedrock()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def paced_bedrock():
    """A second endpoint whose scripted engine waits 40 ms between chunks."""
    server = LocalBedrock("--chunk-delay-ms", "40")
    yield server
    server.stop()


@pytest.fixture()
def bedrock(local_bedrock):
    """The shared endpoint, with no fault left queued before or after the test."""
    local_bedrock.clear_faults()
    yield local_bedrock
    local_bedrock.clear_faults()


@pytest.fixture()
def client(bedrock):
    c = bedrock.client()
    yield c
    c.close()
