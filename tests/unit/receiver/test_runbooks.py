"""The receiver serves the generated runbooks, so every alert's default runbook_url resolves."""
from __future__ import annotations

from catalog import load_catalog
from webhook_receiver.app import create_app
from webhook_receiver.settings import load_settings


def _client(tmp_path, **env):
    settings = load_settings(env={"DATABASE_URL": f"sqlite:///{tmp_path}/h.db", **env})
    return create_app(settings).test_client()


def test_every_alert_runbook_url_is_served(tmp_path):
    c = _client(tmp_path)
    for a in load_catalog().alerts:
        path = a.runbook_url.removeprefix("http://127.0.0.1:9099")
        r = c.get(path)
        assert r.status_code == 200, (a.name, path)
        assert r.mimetype == "text/html" and f"<h1>{a.name}</h1>" in r.get_data(as_text=True)
        raw = c.get(path + ".md")  # the Markdown itself
        assert raw.status_code == 200 and f"# {a.name}" in raw.get_data(as_text=True), (a.name, path)
    assert '<a href="exchange-frozen">ExchangeFrozen</a>' in c.get("/runbooks/").get_data(as_text=True)


def test_unknown_or_hostile_slugs_are_404(tmp_path):
    c = _client(tmp_path)
    for path in ("/runbooks/nope", "/runbooks/..%2F..%2Fpyproject.toml", "/runbooks/%2Fetc%2Fpasswd", "/runbooks/A_B"):
        assert c.get(path).status_code == 404, path


def test_runbooks_dir_is_configurable(tmp_path):
    d = tmp_path / "rb"
    d.mkdir()
    (d / "custom.md").write_text("# Custom\n")
    c = _client(tmp_path, RUNBOOKS_DIR=str(d))
    assert c.get("/runbooks/custom.md").get_data(as_text=True) == "# Custom\n"
    assert "<h1>Custom</h1>" in c.get("/runbooks/custom").get_data(as_text=True)
    assert c.get("/runbooks/exchange-frozen").status_code == 404
