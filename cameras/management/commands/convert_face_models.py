"""Convert dlib's face networks from the installed `face_recognition_models` to ONNX under VAR_DIR."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cameras.engine.dlib_format import DlibFormatError
from cameras.engine.onnx_convert import SOURCES, cached_model, convert, ensure_model


class Command(BaseCommand):
    help = (
        "Convert dlib's face ResNet (and with --detector its MMOD face detector) from the installed "
        "face_recognition_models package to ONNX, cached under VAR_DIR/face_models with the source's "
        "SHA-256. Runs by itself on the engine's first use; use this to do it ahead of time, to check "
        "the cache (--check) or to rebuild it (--force). No network access."
    )

    def add_arguments(self, parser):
        parser.add_argument("--detector", action="store_true", help="Also convert the MMOD CNN face detector.")
        parser.add_argument("--force", action="store_true", help="Convert again even if the cache is valid.")
        parser.add_argument(
            "--check", action="store_true", help="Convert nothing; fail if a converted file is missing or stale."
        )

    def handle(self, *args, detector: bool, force: bool, check: bool, **options):
        names = [name for name in SOURCES if name == "resnet" or detector]
        stale = []
        for name in names:
            if check:
                found = cached_model(name)
                if found is None:
                    stale.append(name)
                    self.stdout.write(f"{name}: missing or stale")
                    continue
                path, record = found
            else:
                try:
                    path, record = convert(name) if force else ensure_model(name)
                except DlibFormatError as error:
                    raise CommandError(f"{name}: {error}")
            self.stdout.write(
                f"{name}: {path} (from {record['source']} sha256 {record['source_sha256'][:12]}, "
                f"onnx sha256 {record['onnx_sha256'][:12]})"
            )
        if stale:
            raise CommandError(f"Not converted or out of date: {', '.join(stale)}. Run without --check.")
