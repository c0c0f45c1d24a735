"""The receiver installed from its wheel (not editable, not from the repository) finds its data: the
generated channel map and the runbook pages are package data read through importlib.resources."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import paths

REPO = paths.REPO

CHECK = textwrap.dedent("""
    import sys, tempfile
    import webhook_receiver
    assert webhook_receiver.__file__.startswith(sys.argv[1]), webhook_receiver.__file__  # the installed copy
    from webhook_receiver.notify.channel_map import load_channel_map
    cmap = load_channel_map()
    assert cmap.source == "package:channel_map.yml" and cmap.channels_for("P0") == ("telegram",), cmap
    from webhook_receiver.app import create_app
    from webhook_receiver.settings import load_settings
    db = tempfile.mkdtemp()
    app = create_app(load_settings({"DATABASE_URL": f"sqlite:///{db}/h.db"}))
    page = app.test_client().get("/runbooks/exchange-frozen")
    assert page.status_code == 200 and "ExchangeFrozen" in page.get_data(as_text=True), page.status_code
    assert app.test_client().get("/runbooks/").status_code == 200
    app.extensions["d76_receiver"].close()
    print("installed wheel ok")
""")


def test_wheel_carries_the_channel_map_and_runbooks(tmp_path: Path) -> None:
    # build from a clean copy of the sources: an in-tree build/ folder could carry stale files
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".d76", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "tests"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = list(wheels.glob("d76_alerting-*.whl"))
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    # run from an unrelated folder with the installed copy first on the path (dependencies come from
    # the test environment; the repository itself is not importable from there)
    run = subprocess.run([sys.executable, "-c", CHECK, str(site)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "installed wheel ok" in run.stdout
