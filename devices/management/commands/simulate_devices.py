"""Runs N simulated edge devices against a running server, for demos and load tests.

Each device registers with a registration token, then until the time is up:
heartbeats, pulls its config when the version changes (with If-None-Match),
takes any offered deployment (reports downloading, downloads and checks the
SHA-256, reports installing and succeeded) and, with `--frames`, pushes frames
from a folder to the cameras its config lists. Loopback servers only: this is
a load generator and must never be pointed at someone else's host.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import itertools
import json
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.core.management.base import BaseCommand, CommandError

from config.percentiles import percentiles

MAX_DEVICES = 5000
MAX_DURATION = 3600
FRAME_SUFFIXES = {".jpg", ".jpeg", ".png"}
GRACE_SECONDS = 10.0


def loopback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CommandError(f"--url must be an http(s) URL, not {url!r}.")
    host = parts.hostname
    try:
        is_loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise CommandError(f"--url must point at a loopback address (127.0.0.1, ::1, localhost), not {host!r}.")
    return url.rstrip("/")


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    # Only ever counted up and reported, by the summary's names: registered, registration_failures, heartbeats,
    # rate_limited, config_pulls, config_not_modified, deployments_succeeded/_failed, frames_pushed.
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    heartbeat_latencies_ms: list[float] = field(default_factory=list)
    heartbeat_times: list[float] = field(default_factory=list)
    steady_from: float = 0.0  # after the ramp-up: the window for the sustained rate
    cancelled_at_deadline: int = 0

    def error(self, what: str) -> None:
        self.errors[what] += 1

    def summary(self, elapsed: float, deadline: float) -> dict:
        latencies, counts = self.heartbeat_latencies_ms, self.counts
        steady_start = self.started + self.steady_from
        steady_seconds = min(self.started + elapsed, deadline) - steady_start
        steady = sum(1 for t in self.heartbeat_times if t >= steady_start)
        p50_ms, p99_ms = percentiles(latencies, (0.50, 0.99), digits=2)
        return {
            "elapsed_seconds": round(elapsed, 2),
            "registered": counts["registered"],
            "registration_failures": counts["registration_failures"],
            "heartbeats": counts["heartbeats"],
            "heartbeats_per_second": round(counts["heartbeats"] / elapsed, 1) if elapsed else 0.0,
            "sustained_seconds": round(steady_seconds, 2),
            "sustained_heartbeats_per_second": round(steady / steady_seconds, 1) if steady_seconds > 0 else 0.0,
            "heartbeat_p50_ms": p50_ms,
            "heartbeat_p99_ms": p99_ms,
            "heartbeat_mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
            "rate_limited": counts["rate_limited"],
            "config_pulls": counts["config_pulls"],
            "config_not_modified": counts["config_not_modified"],
            "deployments_succeeded": counts["deployments_succeeded"],
            "deployments_failed": counts["deployments_failed"],
            "frames_pushed": counts["frames_pushed"],
            "devices_cancelled_at_deadline": self.cancelled_at_deadline,
            "errors": dict(self.errors),
        }


class SimulatedDevice:
    def __init__(
        self,
        *,
        index: int,
        run: str,
        base: str,
        client: httpx.AsyncClient,
        options: dict,
        stats: Stats,
        frames: list[Path],
        stop: asyncio.Event,
    ):
        self.serial = (
            options["provisioned_serials"][index]
            if options.get("provisioned_serials")
            else f"{options['serial_prefix']}{run}-{index:05d}"
        )
        self.base = base
        self.client = client
        self.options = options
        self.stats = stats
        self.frames = frames
        self.stop = stop
        self.headers: dict[str, str] = {}
        self.config: dict = {}
        self.etag: str | None = None
        self.config_version: str | None = None
        self.frame_cycle = itertools.cycle(frames) if frames else None
        self.next_frame_at = 0.0
        self.deadline = float("inf")

    async def sleep(self, seconds: float) -> None:
        """Sleeps, but never past the deadline and not at all once stopped."""
        seconds = min(seconds, self.deadline - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))

    async def register(self) -> bool:
        if self.options.get("provisioned"):
            credential = self.options["provisioned"].get(self.serial)
            if credential:
                self.headers = {"Authorization": f"Device {credential}"}
                self.stats.counts["registered"] += 1
                return True
        body = {
            "token": self.options["token"],
            "serial": self.serial,
            "name": f"Simulated {self.serial}",
            "agent_version": self.options["agent_version"],
            "hardware_info": {"simulated": True, "cpu": "sim-arm64", "ram_mb": 2048},
        }
        for attempt in range(5):
            if self.stop.is_set() or time.monotonic() >= self.deadline:
                break
            try:
                response = await self.client.post(f"{self.base}/api/v1/devices/register", json=body)
            except httpx.HTTPError as exc:
                self.stats.error(f"register:{type(exc).__name__}")
                await self.sleep(1 + attempt)
                continue
            if response.status_code in (200, 201):
                self.headers = {"Authorization": f"Device {response.json()['credential']}"}
                self.stats.counts["registered"] += 1
                return True
            if response.status_code in (429, 503):
                await self.sleep(float(response.headers.get("Retry-After", 1 + attempt)))
                continue
            self.stats.error(f"register:{response.status_code}")
            break
        self.stats.counts["registration_failures"] += 1
        return False

    async def pull_config(self) -> None:
        headers = dict(self.headers)
        if self.etag:
            headers["If-None-Match"] = self.etag
        response = await self.client.get(f"{self.base}/api/v1/devices/config", headers=headers)
        if response.status_code == 304:
            self.stats.counts["config_not_modified"] += 1
        elif response.status_code == 200:
            self.stats.counts["config_pulls"] += 1
            body = response.json()
            self.config, self.config_version, self.etag = body["config"], body["version"], response.headers.get("ETag")
        else:
            self.stats.error(f"config:{response.status_code}")

    async def report(self, target_id: int, state: str, error: str = "") -> bool:
        response = await self.client.post(
            f"{self.base}/api/v1/devices/targets/{target_id}/status",
            json={"state": state, "error": error},
            headers=self.headers,
        )
        if response.status_code != 200:
            self.stats.error(f"target_status:{response.status_code}")
        return response.status_code == 200

    async def take_deployment(self, offer: dict) -> None:
        target_id = offer["target_id"]
        if offer["state"] == "pending" and not await self.report(target_id, "downloading"):
            return
        digest = hashlib.sha256()
        async with self.client.stream("GET", offer["bundle"]["download_url"], headers=self.headers) as response:
            if response.status_code != 200:
                self.stats.error(f"bundle:{response.status_code}")
                return
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
        if digest.hexdigest() != offer["bundle"]["sha256"]:
            await self.report(target_id, "failed", "checksum mismatch")
            self.stats.counts["deployments_failed"] += 1
            return
        if await self.report(target_id, "installing") and await self.report(target_id, "succeeded"):
            self.stats.counts["deployments_succeeded"] += 1

    async def heartbeat(self) -> dict | None:
        body = {
            "uptime_seconds": int(time.monotonic() - self.stats.started),
            "cpu_percent": round(random.uniform(5, 60), 1),
            "memory_percent": round(random.uniform(20, 70), 1),
            "disk_percent": 42.0,
            "temperature_c": round(random.uniform(40, 65), 1),
            "agent_version": self.options["agent_version"],
            "status": {"simulated": True},
        }
        started = time.perf_counter()
        response = await self.client.post(f"{self.base}/api/v1/devices/heartbeat", json=body, headers=self.headers)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code == 200:
            self.stats.counts["heartbeats"] += 1
            self.stats.heartbeat_latencies_ms.append(elapsed_ms)
            self.stats.heartbeat_times.append(time.monotonic())
            return response.json()
        if response.status_code == 429:
            self.stats.counts["rate_limited"] += 1
        else:
            self.stats.error(f"heartbeat:{response.status_code}")
        return None

    async def push_frames(self) -> None:
        cameras = self.config.get("cameras") or []
        if not self.frame_cycle or not cameras or time.monotonic() < self.next_frame_at:
            return
        self.next_frame_at = time.monotonic() + float(self.config.get("frame_interval_seconds", 2))
        for camera_id in cameras:
            frame = next(self.frame_cycle)
            files = {"image": (frame.name, frame.read_bytes(), "image/jpeg" if frame.suffix != ".png" else "image/png")}
            response = await self.client.post(
                f"{self.base}/api/v1/cameras/{camera_id}/frames", files=files, headers=self.headers
            )
            if response.status_code in (200, 202):  # 200: the scene had not changed (motion gate)
                self.stats.counts["frames_pushed"] += 1
            else:
                self.stats.error(f"frame:{response.status_code}")

    async def run(self, deadline: float) -> None:
        self.deadline = deadline
        # Spread registrations so a thousand devices do not arrive in the same millisecond.
        await self.sleep(random.uniform(0, self.options["ramp_up"]))
        if self.stop.is_set() or not await self.register():
            return
        try:
            await self.pull_config()
        except httpx.HTTPError as exc:
            self.stats.error(f"config:{type(exc).__name__}")
        interval = self.options["interval"]
        while not self.stop.is_set() and time.monotonic() < deadline:
            beat_started = time.monotonic()
            try:
                reply = await self.heartbeat()
                if reply is not None:
                    if reply["config_version"] != self.config_version:
                        await self.pull_config()
                    if reply.get("deployment"):
                        await self.take_deployment(reply["deployment"])
                await self.push_frames()
            except httpx.HTTPError as exc:
                self.stats.error(f"http:{type(exc).__name__}")
            every = interval if interval is not None else float(self.config.get("heartbeat_interval_seconds", 30))
            await self.sleep(min(every - (time.monotonic() - beat_started), deadline - time.monotonic()))


class Command(BaseCommand):
    help = (
        "Runs N simulated devices against a running server on this machine (register, heartbeat, config, "
        "deployments, frames) for a bounded time, then prints throughput and latency."
    )

    def add_arguments(self, parser):
        parser.add_argument("count", type=int, help=f"Number of devices (1..{MAX_DEVICES}).")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Server base URL (loopback only).")
        parser.add_argument("--token", help="A registration token with enough uses for N devices.")
        parser.add_argument(
            "--credentials",
            type=Path,
            help="JSON {serial: credential} of devices provisioned already (skips registration).",
        )
        parser.add_argument("--duration", type=float, default=60, help=f"Seconds to run (max {MAX_DURATION}).")
        parser.add_argument("--frames", type=Path, help="Folder of .jpg/.png frames to push to bound cameras.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between heartbeats (default: the config's heartbeat_interval_seconds).",
        )
        parser.add_argument("--ramp-up", type=float, default=5.0, help="Spread registrations over this many seconds.")
        parser.add_argument("--connections", type=int, default=200, help="Maximum concurrent HTTP connections.")
        parser.add_argument("--serial-prefix", default="sim-", help="Serials are <prefix><run>-<n>.")
        parser.add_argument("--run-id", default=None, help="Reuse serials of an earlier run (default: new ones).")
        parser.add_argument("--agent-version", default="sim-1.0")
        parser.add_argument("--report", type=Path, help="Also write the summary as JSON to this file.")

    def handle(self, *args, **options):
        count, duration = options["count"], options["duration"]
        if not 1 <= count <= MAX_DEVICES:
            raise CommandError(f"count must be between 1 and {MAX_DEVICES}.")
        if not 0 < duration <= MAX_DURATION:
            raise CommandError(f"--duration must be between 0 and {MAX_DURATION} seconds.")
        if options["interval"] is not None and options["interval"] < 0:
            raise CommandError("--interval cannot be negative.")
        if not 1 <= options["connections"] <= 2000:
            raise CommandError("--connections must be between 1 and 2000.")
        base = loopback_url(options["url"])
        options["provisioned"], options["provisioned_serials"] = None, None
        if options["credentials"] is not None:
            try:
                provisioned = json.loads(options["credentials"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"--credentials: {exc}") from exc
            if not isinstance(provisioned, dict) or len(provisioned) < count:
                raise CommandError(f"--credentials must map at least {count} serials to credentials.")
            options["provisioned"] = provisioned
            options["provisioned_serials"] = sorted(provisioned)[:count]
        elif not options["token"]:
            raise CommandError("Give --token (devices register) or --credentials (devices provisioned already).")
        frames: list[Path] = []
        if options["frames"] is not None:
            if not options["frames"].is_dir():
                raise CommandError(f"--frames {options['frames']} is not a folder.")
            frames = sorted(p for p in options["frames"].iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
            if not frames:
                raise CommandError(f"--frames {options['frames']} holds no .jpg or .png files.")
        summary = asyncio.run(self.simulate(base=base, count=count, duration=duration, frames=frames, options=options))
        if options["report"]:
            options["report"].write_text(json.dumps(summary, indent=2))
        self.stdout.write(json.dumps(summary))
        self.stdout.write(
            f"{summary['registered']}/{count} devices registered; {summary['heartbeats']} heartbeats in "
            f"{summary['elapsed_seconds']} s; sustained {summary['sustained_heartbeats_per_second']}/s; "
            f"p50 {summary['heartbeat_p50_ms']} ms, p99 {summary['heartbeat_p99_ms']} ms; "
            f"{sum(summary['errors'].values())} errors, {summary['rate_limited']} rate-limited."
        )
        if summary["heartbeats"] == 0:
            raise CommandError("No heartbeat succeeded.")

    async def simulate(self, *, base: str, count: int, duration: float, frames: list[Path], options: dict) -> dict:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        stats = Stats(steady_from=min(options["ramp_up"] + 2.0, duration / 2))
        run = options["run_id"] or uuid.uuid4().hex[:6]
        limits = httpx.Limits(max_connections=options["connections"], max_keepalive_connections=options["connections"])
        timeout = httpx.Timeout(30.0)
        deadline = time.monotonic() + duration
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            devices = [
                SimulatedDevice(
                    index=i, run=run, base=base, client=client, options=options, stats=stats, frames=frames, stop=stop
                )
                for i in range(count)
            ]
            progress = asyncio.create_task(self.progress(stats, stop, deadline))
            tasks = [asyncio.create_task(device.run(deadline)) for device in devices]
            # Requests still in flight at the deadline get a short grace, then are cancelled,
            # so the run is bounded in time whatever the server does.
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()) + GRACE_SECONDS)
            stop.set()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await progress
            stats.cancelled_at_deadline = len(pending)
        return stats.summary(time.monotonic() - stats.started, deadline)

    async def progress(self, stats: Stats, stop: asyncio.Event, deadline: float) -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
            self.stderr.write(
                f"[{time.monotonic() - stats.started:6.1f}s] registered {stats.counts['registered']}, heartbeats "
                f"{stats.counts['heartbeats']}, rate-limited {stats.counts['rate_limited']}, "
                f"errors {sum(stats.errors.values())}"
            )
