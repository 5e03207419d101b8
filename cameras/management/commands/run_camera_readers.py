"""Run the long-lived stream readers (RTSP, MJPEG) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from cameras.choices import SourceKind
from cameras.readers import STREAM_KINDS, ReaderPool


class Command(BaseCommand):
    help = (
        "Keep one reader thread per enabled RTSP/MJPEG camera: the stream stays open and a frame goes to the "
        "pipeline every sampling interval. poll_cameras leaves cameras with a live reader alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kinds", default=",".join(STREAM_KINDS),
                            help="Comma-separated source kinds to read (default: rtsp,mjpeg).")
        parser.add_argument("--rescan", type=float, default=30.0, help="Seconds between looks for new cameras.")

    def handle(self, *args, kinds: str, rescan: float, **options):
        chosen = [kind.strip() for kind in kinds.split(",") if kind.strip()]
        unknown = set(chosen) - set(SourceKind.values)
        if unknown or not chosen:
            raise CommandError(f"Unknown source kinds: {', '.join(sorted(unknown)) or '(none given)'}.")
        pool = ReaderPool(kinds=chosen)

        def stop(signum, frame):
            self.stdout.write("stopping camera readers")
            pool.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"camera readers running for {', '.join(chosen)}")
        pool.run(rescan_seconds=rescan)
        sent = sum(reader.frames_sent for reader in pool.readers.values())
        self.stdout.write(f"camera readers stopped; {len(pool.readers)} camera(s), {sent} frame(s) sent")
