"""Screenshots of the Prefect UI after ``make run`` and a degraded run, in headless Chromium.

What a newcomer does, in a scratch folder (its own PREFECT_HOME, so only these runs show):

1. ``ocr-pipeline ingest samples/archive --lake WORK/lake`` (what ``make run`` runs);
2. a second run into the same lake, of one new scan, with canaries made unreadable
   (``OCR_CANARY_PAGES=1 OCR_CANARY_SEVERITY=6``): it ends ``Degraded`` and exits 4;
3. ``ocr-pipeline ui`` on a free port; the runs are checked through the REST API;
4. Chromium (Debian's ``chromium``; no test or CI needs it) takes the run list, the degraded
   run, the artifacts (keyed by flow and lake) and the degraded run's quality report with the
   CER trend. PNGs are quantized to stay small.

    .venv/bin/python scripts/ui_screenshots.py [--out docs/img] [--work /tmp/ocr-ui]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples/archive/2026-11-24/letters/scan_0001"
DEGRADED_ENV = {"OCR_CANARY_PAGES": "1", "OCR_CANARY_SEVERITY": "6"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> int:
    """Run ``ocr-pipeline`` as a user would and show its last lines."""
    cmd = [sys.executable, "-m", "ocr_tasks.cli", *args]
    print("$", " ".join(["ocr-pipeline", *args]), flush=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.strip().splitlines()[-4:]:  # what it prints last (logs: stderr)
        print("   ", line)
    print(f"    exit {done.returncode}", flush=True)
    return done.returncode


def new_scan(drop: Path) -> None:
    """One scan the lake has not seen (identity is the content hash, so a copy would be a
    duplicate): the sample letter with one pixel changed, and its ground-truth sidecar."""
    from PIL import Image

    target = drop / "2026-11-26/letters/scan_0004"
    target.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(SAMPLE.with_suffix(".png")).convert("RGB")
    image.putpixel((0, 0), (250, 250, 250))
    image.save(target.with_suffix(".png"), dpi=(150, 150))
    shutil.copy(SAMPLE.with_suffix(".gt.txt"), target.with_suffix(".gt.txt"))


def api(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(f"{url}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"no Prefect UI at {url} after {timeout_s:.0f} s")


def screenshot(browser: str, url: str, path: Path, size: str = "1400,900",
               wait_ms: int = 40000) -> None:
    """A PNG of ``url``: the UI is a single-page app, so give it virtual time to load."""
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--window-size={size}", "--force-device-scale-factor=1",
                    f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url],
                   capture_output=True, timeout=180, check=False)
    if not path.is_file():
        raise SystemExit(f"chromium wrote no screenshot of {url}")
    from PIL import Image

    Image.open(path).convert("RGB").quantize(colors=96).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB of {url}", flush=True)


def make_runs(lake: Path, drop: Path, env: dict[str, str]) -> None:
    """``make run``'s ingestion, then a degraded run of one new scan into the same lake."""
    if cli("ingest", str(ROOT / "samples/archive"), "--lake", str(lake), "--no-progress",
           env=env) != 0:
        raise SystemExit("the run of the sample archive failed")
    new_scan(drop)
    degraded = cli("ingest", str(drop), "--lake", str(lake), "--no-progress",
                   env={**env, **DEGRADED_ENV})
    if degraded != 4:
        raise SystemExit(f"the second run should have been degraded (exit 4), got {degraded}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--shots-only", action="store_true",
                        help="take the screenshots of the runs already in --work again")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs chromium: apt-get install -y chromium")
    work = args.work or Path(tempfile.mkdtemp(prefix="ocr-ui-"))
    (work / "prefect-home").mkdir(parents=True, exist_ok=True)  # Prefect makes no parents
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(work / "prefect-home"), OCR_SCHEDULE_API_PORT=str(port),
               PYTHONPATH=str(ROOT), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               # a new database is migrated first: minutes on a busy machine
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600")
    lake = work / "lake"
    if not args.shots_only:
        make_runs(lake, work / "drop", env)
    server = subprocess.Popen([sys.executable, "-m", "ocr_tasks.cli", "ui"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ui = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{ui}/api")
        runs = api(f"{ui}/api", "/flow_runs/filter", {"sort": "START_TIME_DESC"})
        for run in runs:
            print(f"  {run['name']}: {run['state']['type']} {run['state']['name']}")
        bad = next(r for r in runs if r["state"]["name"] == "Degraded")
        artifacts = api(f"{ui}/api", "/artifacts/filter",
                        {"artifacts": {"flow_run_id": {"any_": [bad["id"]]}}})
        report = next(a for a in artifacts if a["type"] == "markdown")
        args.out.mkdir(parents=True, exist_ok=True)
        screenshot(browser, f"{ui}/runs", args.out / "ui-run-list.png", "1400,1000")
        screenshot(browser, f"{ui}/runs/flow-run/{bad['id']}", args.out / "ui-degraded-run.png",
                   "1400,900", wait_ms=25000)
        screenshot(browser, f"{ui}/artifacts", args.out / "ui-artifacts.png", "1400,320")
        screenshot(browser, f"{ui}/artifacts/artifact/{report['id']}",
                   args.out / "ui-quality-report.png", "1400,1500")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
