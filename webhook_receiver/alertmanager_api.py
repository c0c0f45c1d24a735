"""A small client of Alertmanager's API v2: silences (create, expire, list, one by id), alerts and
the server's status (its start time).

Several URLs (an HA cluster) may be given: a call goes to the first that answers; silences gossip
to the other peers. `replicas()` gives one client per URL for callers that must ask every replica
(the history reconciler unions their alerts). Errors are `AlertmanagerError`, whose text never
includes credentials.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3

__all__ = ["AlertmanagerClient", "AlertmanagerError"]


class AlertmanagerError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


class AlertmanagerClient:
    def __init__(
        self, urls: str | Sequence[str], timeout: float = 5.0, session: requests.Session | None = None
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.urls = [u.rstrip("/") for u in self.urls if u]
        if not self.urls:
            raise ValueError("AlertmanagerClient needs at least one URL")
        self.timeout = timeout
        self._session = session or requests.Session()

    @property
    def base_url(self) -> str:
        return self.urls[0]

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        last: AlertmanagerError | None = None
        for base in self.urls:
            try:
                resp = self._session.request(method, f"{base}{path}", timeout=self.timeout, **kw)
            except requests.RequestException as exc:
                last = AlertmanagerError(f"alertmanager: {type(exc).__name__}")
                continue
            if 200 <= resp.status_code < 300:
                try:
                    return resp.json() if resp.content else None
                except ValueError:
                    last = AlertmanagerError(f"alertmanager: {resp.status_code} answer is not JSON")
                    continue
            err = AlertmanagerError(f"alertmanager: {resp.status_code} {resp.text[:200]}",
                                    permanent=400 <= resp.status_code < 500, status=resp.status_code)
            if err.permanent:
                raise err
            last = err
        assert last is not None
        raise last

    def create_silence(self, matchers: list[dict], starts_at: datetime, ends_at: datetime, created_by: str,
                       comment: str) -> str:
        body = {"matchers": matchers, "startsAt": starts_at.isoformat(), "endsAt": ends_at.isoformat(),
                "createdBy": created_by, "comment": comment}
        return str(self._call("POST", "/api/v2/silences", json=body)["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        self._call("DELETE", f"/api/v2/silence/{silence_id}")

    def silences(self) -> list[dict]:
        return list(self._call("GET", "/api/v2/silences") or [])

    def silence(self, silence_id: str) -> dict | None:
        """One silence (`createdBy`, `comment`, `startsAt`, `endsAt`, `status.state`, matchers);
        None when Alertmanager does not know the id."""
        try:
            out = self._call("GET", f"/api/v2/silence/{quote(silence_id, safe='')}")
        except AlertmanagerError as exc:
            if exc.status in (404, 422):  # unknown id / not a UUID
                return None
            raise
        return out if isinstance(out, dict) else None

    def active_silences(self) -> list[dict]:
        """Silences in force now, ending soonest first."""
        out = [s for s in self.silences() if (s.get("status") or {}).get("state") == "active"]
        return sorted(out, key=lambda s: str(s.get("endsAt") or ""))

    def peers(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Each configured Alertmanager (an HA cluster has several): reachable or not, its version
        and cluster status, from `/api/v2/status`. Never raises."""
        out: list[dict[str, Any]] = []
        for base in self.urls:
            try:
                resp = self._session.get(f"{base}/api/v2/status", timeout=timeout)
            except requests.RequestException as exc:
                out.append({"url": base, "ok": False, "error": type(exc).__name__})
                continue
            if resp.status_code != 200:
                out.append({"url": base, "ok": False, "error": f"HTTP {resp.status_code}"})
                continue
            try:
                body = resp.json()
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            cluster = _obj(body.get("cluster"))
            info = _obj(body.get("versionInfo"))
            out.append({"url": base, "ok": True, "version": str(info.get("version") or "?"),
                        "cluster": str(cluster.get("status") or "?"),
                        "peers": len(cluster.get("peers") or [])})
        return out

    def alerts(self, **filters: Any) -> list[dict]:
        out = self._call("GET", "/api/v2/alerts", params=filters)
        if out is None:
            return []
        if not isinstance(out, list):
            raise AlertmanagerError("alertmanager: /api/v2/alerts did not answer a list")
        return out

    def alerts_raw(self, **filters: Any) -> bytes:
        """`GET /api/v2/alerts` as the bytes Alertmanager sent, for a caller that decodes only what it
        needs (the reconciler). Read in one piece: requests' `content` joins 10 KB chunks, which costs
        more CPU than the decode at 10,000 alerts (3.7 MB)."""
        last: AlertmanagerError | None = None
        for base in self.urls:
            try:
                with self._session.get(f"{base}/api/v2/alerts", params=filters, timeout=self.timeout,
                                       stream=True) as resp:
                    if 200 <= resp.status_code < 300:
                        return bytes(resp.raw.read(decode_content=True))
                    err = AlertmanagerError(f"alertmanager: {resp.status_code} {resp.text[:200]}",
                                            permanent=400 <= resp.status_code < 500, status=resp.status_code)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                last = AlertmanagerError(f"alertmanager: {type(exc).__name__}")
                continue
            if err.permanent:
                raise err
            last = err
        assert last is not None
        raise last

    def status(self) -> dict:
        """`/api/v2/status`: `uptime` (when this Alertmanager started), `cluster`, `versionInfo`."""
        out = self._call("GET", "/api/v2/status")
        if not isinstance(out, dict):
            raise AlertmanagerError("alertmanager: /api/v2/status did not answer an object")
        return out

    def replicas(self) -> list[AlertmanagerClient]:
        """One client per URL (sharing this client's session and timeout)."""
        return [AlertmanagerClient(u, timeout=self.timeout, session=self._session) for u in self.urls]


def _obj(v: Any) -> dict[str, Any]:
    """A JSON object from an answer, or {} when it is missing or of another type."""
    return v if isinstance(v, dict) else {}
