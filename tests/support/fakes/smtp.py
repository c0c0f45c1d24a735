"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives.

`SMTPServer().start()` listens on a free port; `messages` holds parsed `email.message.EmailMessage`
objects with their envelope; `wait_messages(n)` waits; `fail_next(code, text)` makes the next DATA
answer with an SMTP error (e.g. 451 for a transient failure). Optional AUTH (PLAIN/LOGIN) with one
user/password, allowed without TLS because it is loopback-only.
"""
from __future__ import annotations

import email
import email.policy
import logging
import ssl
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from local_stack.processes import free_port

__all__ = ["SMTPServer", "ReceivedMail", "make_self_signed_cert"]


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes


class _Handler:
    def __init__(self, owner: SMTPServer) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.owner._cond:
            if self.owner._fail:
                return self.owner._fail.pop(0)
            raw = envelope.original_content or envelope.content
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            self.owner.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), msg, raw))
            self.owner._cond.notify_all()
        return "250 Message accepted for delivery"


class _QuietController(Controller):
    """AUTH without TLS is deliberate (loopback only): silence aiosmtpd's per-session warning."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("mail.log").setLevel(logging.ERROR)
            return super().factory()


class SMTPServer:
    def __init__(self, user: str | None = None, password: str | None = None,
                 tls_cert: tuple[str, str] | None = None) -> None:
        """tls_cert=(cert.pem, key.pem) offers STARTTLS and requires it before MAIL."""
        self.messages: list[ReceivedMail] = []
        self._fail: list[str] = []
        self._cond = threading.Condition()
        self.user, self.password = user, password
        self.tls_cert = tls_cert
        self.host = "127.0.0.1"
        self.port = 0
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        return AuthResult(success=ok, handled=False)

    def start(self) -> SMTPServer:
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            # LOGIN is excluded: smtplib sends it with an initial response that aiosmtpd 1.4 waits
            # past, which would stall a failed login until the client's timeout.
            kwargs = {"authenticator": self._authenticate, "auth_required": True,
                      "auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]}
        if self.tls_cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls_cert)
            kwargs.update(tls_context=ctx, require_starttls=True)
        self._controller = _QuietController(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, code: int = 451, text: str = "Requested action aborted: try again later") -> None:
        with self._cond:
            self._fail.append(f"{code} {text}")

    def wait_messages(self, n: int, timeout: float = 10.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"SMTPServer: {len(self.messages)} of {n} messages within {timeout}s")
                self._cond.wait(left)
            return list(self.messages)


def make_self_signed_cert(directory: str | Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 (openssl CLI); returns (cert.pem, key.pem)."""
    d = Path(directory)
    cert, key = d / "smtp-cert.pem", d / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)
