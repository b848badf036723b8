"""report.html in a real browser: every embedded image must decode, and the page must render.

A data URI that is truncated or mis-encoded still looks fine in the HTML source, so only a
browser can tell; headless Chromium (Debian's `chromium`, installed by
scripts/setup-test-deps.sh) loads the page and reports each <img>'s naturalWidth.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.report_synth import make_compare_run, make_fit_run
from transferlab.results.report import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                       reason="chromium not installed (scripts/setup-test-deps.sh installs it)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Appended to a copy of the page under test: after load, list every image that did not decode.
CHECKER = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !i.complete || i.naturalWidth === 0)
                  .map(i => i.alt || i.src.slice(0, 40));
  const out = document.createElement("pre");
  out.id = "imgcheck";
  out.textContent = JSON.stringify({total: imgs.length, bad: bad,
                                    widths: imgs.map(i => i.naturalWidth)});
  document.body.appendChild(out);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None, "CI must have chromium: run scripts/setup-test-deps.sh"
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def image_check(page: Path, tmp_path: Path) -> dict:
    """Load a copy of `page` with the checker script and return what it found."""
    probe = tmp_path / f"probe-{page.parent.name}.html"
    probe.write_text(page.read_text().replace("</body>", CHECKER + "</body>"))
    proc = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="imgcheck">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"checker did not run; chromium said:\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_checker_catches_a_broken_image(tmp_path: Path) -> None:
    """The check itself can fail: a corrupt data URI must be reported as not decoded."""
    page = tmp_path / "broken" / "report.html"
    page.parent.mkdir()
    page.write_text('<!DOCTYPE html><html><body><img alt="bad" '
                    'src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"></body></html>')
    result = image_check(page, tmp_path)
    assert result["total"] == 1 and result["bad"] == ["bad"]


@pytest.mark.parametrize("kind", ["compare", "fit"])
def test_report_images_decode_in_chromium(tmp_path: Path, kind: str) -> None:
    run = (make_compare_run(tmp_path, ("linear-probe", "finetune", "scratch")) if kind == "compare"
           else make_fit_run(tmp_path))
    page = write_report(run)
    result = image_check(page, tmp_path)
    expected = 13 if kind == "compare" else 4
    assert result["total"] == expected, result
    assert result["bad"] == [], f"images that did not decode: {result['bad']}"
    assert all(w >= 200 for w in result["widths"]), result["widths"]

    shot = tmp_path / f"{kind}.png"
    proc = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        # the dark header band is drawn at the top: the page rendered, not a blank tab
        assert np.asarray(im.convert("L"))[:60].mean() < 100
    keep = os.environ.get("TRANSFERLAB_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
