"""The email channel: the daily digest, rendered (plain text + HTML, the day's history attached as
CSV) and sent over SMTP.

The digest summarises every severity (P0-P2 counted, with mean times to acknowledge and to resolve;
silenced and inhibited episodes counted) and lists the P3 alerts in full; `notify.digest` builds
the content. Rendering is pure (content in, `EmailMessage` out) so it is tested without a server; `SMTPSender`
uses smtplib with bounded timeouts, optional STARTTLS and login, and classifies failures like the
other channels (4xx SMTP replies and network errors retry, 5xx replies are permanent).
"""
from __future__ import annotations

import html
import smtplib
import ssl
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar

from vocabulary import AlertStatus, NotificationKind

from ...setting_parsers import flag, integer, items, load, setting, text
from ...timefmt import fmt_time
from ..model import AlertView, Notice, format_duration
from ..settings import NotifySettings
from . import register
from .base import ChannelLimits, DeliveryError, Destination, Part, SettingsClass, TailCount

__all__ = ["DigestContent", "SeverityLine", "EmailChannel", "EmailSettings", "build_digest", "render_digest_email",
           "SMTPSender", "DIGEST_DESTINATION"]

DIGEST_DESTINATION = "default"  # the one lane of the email channel


@dataclass(frozen=True)
class SeverityLine:
    """One severity's day: alerts active in the window, how many are still open, acknowledged,
    mean seconds to acknowledge and to resolve, and how many were silenced or inhibited."""

    severity: str
    alerts: int = 0
    open: int = 0
    acknowledged: int = 0
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    suppressed: int = 0


@dataclass(frozen=True)
class DigestContent:
    since: datetime
    until: datetime
    alerts: tuple[AlertView, ...]  # the P3 alerts, listed in full
    summary: tuple[SeverityLine, ...] = ()  # every severity, counted
    episodes: tuple[tuple[str, int], ...] = ()  # (kind, count) of suppressed episodes in the window
    csv_text: str | None = None  # the window's history (every severity), attached
    csv_rows: int = 0
    capped_at: int | None = None  # the window held more alerts: the newest this many are counted and attached

    @property
    def cap_note(self) -> str | None:
        return (f"The window held more than {self.capped_at:,} alerts: the counts and the CSV cover the newest "
                f"{self.capped_at:,} (GET /api/alerts has them all)." if self.capped_at else None)

    @property
    def open(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status != AlertStatus.RESOLVED]

    @property
    def resolved(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status == AlertStatus.RESOLVED]

    def top_alertnames(self, n: int = 10) -> list[tuple[str, int]]:
        return Counter(a.alertname for a in self.alerts).most_common(n)


def build_digest(alerts: Sequence[AlertView], since: datetime, until: datetime, *,
                 summary: Sequence[SeverityLine] = (), episodes: Sequence[tuple[str, int]] = (),
                 csv_text: str | None = None, csv_rows: int = 0, capped_at: int | None = None) -> DigestContent:
    return DigestContent(since=since, until=until, alerts=tuple(alerts), summary=tuple(summary),
                         episodes=tuple(episodes), csv_text=csv_text, csv_rows=csv_rows, capped_at=capped_at)


def csv_filename(d: DigestContent) -> str:
    return f"d76-history-{d.until.astimezone(UTC):%Y-%m-%d}.csv"


def _secs(v: float | None) -> str:
    return format_duration(v) if v is not None else "-"


def _fmt(dt: datetime | None) -> str:
    return fmt_time(dt) if dt else "-"


def _labels(a: AlertView) -> str:
    return ", ".join(f"{k}={v}" for k, v in a.page_labels()) or "-"


def _summary_text(d: DigestContent, csv_note: str | None = None) -> list[str]:
    """Every severity counted, the suppressed episodes, and where the CSV is (`csv_note`: attached,
    or the file it was written to)."""
    if not d.summary:
        return []
    lines = ["Every severity (alerts active in the window):",
             f"  {'sev':<4} {'alerts':>6} {'open':>5} {'acked':>6} {'MTTA':>10} {'MTTR':>10} {'suppressed':>10}"]
    for s in d.summary:
        lines.append(f"  {s.severity:<4} {s.alerts:>6} {s.open:>5} {s.acknowledged:>6} {_secs(s.mtta_seconds):>10} "
                     f"{_secs(s.mttr_seconds):>10} {s.suppressed:>10}")
    eps = ", ".join(f"{kind} {n}" for kind, n in d.episodes) or "none"
    lines += [f"Suppressed episodes (silenced / inhibited): {eps}"]
    if d.csv_text is not None:
        lines.append(csv_note or f"Attached: {csv_filename(d)} ({d.csv_rows} alerts, every severity)")
    if d.cap_note:
        lines.append(d.cap_note)
    return lines + [""]


def render_text(d: DigestContent, csv_note: str | None = None) -> str:
    """The digest as plain text (the email's text part, and `d76 digest`'s print mode, which writes
    the CSV to a file and says where in `csv_note`). Empty sections are left out."""
    lines = [f"D76 daily digest {_fmt(d.since)} .. {_fmt(d.until)}", "", *_summary_text(d, csv_note)]
    if not d.alerts:
        return "\n".join([*lines, "P3 alerts: none."]) + "\n"
    lines += ["P3 alerts, in full:",
              f"Total: {len(d.alerts)}  open: {len(d.open)}  resolved: {len(d.resolved)}", "",
              "Top alertnames:"]
    lines += [f"  {name}: {n}" for name, n in d.top_alertnames()]
    for title, group in (("Open", d.open), ("Resolved", d.resolved)):
        if not group:
            continue
        lines += ["", f"{title} ({len(group)}):"]
        for a in group[:200]:
            dur = a.duration_seconds()
            extra = f" after {format_duration(dur)}" if dur is not None else ""
            lines.append(f"  - [{a.severity}] {a.alertname} ({_labels(a)}) since {_fmt(a.starts_at)}{extra}: {a.title}")
        if len(group) > 200:
            lines.append(f"  ... and {len(group) - 200} more (see GET /api/alerts)")
    return "\n".join(lines) + "\n"


def render_html(d: DigestContent) -> str:
    e = html.escape
    top = "".join(f"<tr><td>{e(n)}</td><td>{c}</td></tr>" for n, c in d.top_alertnames()) or \
        "<tr><td colspan=2>(none)</td></tr>"
    sections = []
    for title, group in (("Open", d.open), ("Resolved", d.resolved)):
        rows = "".join(
            f"<tr><td>{e(a.severity)}</td><td>{e(a.alertname)}</td><td>{e(_labels(a))}</td>"
            f"<td>{e(_fmt(a.starts_at))}</td><td>{e(a.title)}</td></tr>" for a in group[:200])
        sections.append(f"<h3>{title} ({len(group)})</h3><table border=1 cellpadding=4>"
                        f"<tr><th>sev</th><th>alert</th><th>labels</th><th>since</th><th>summary</th></tr>{rows}</table>")
    summary = ""
    if d.summary:
        rows = "".join(f"<tr><td>{e(x.severity)}</td><td>{x.alerts}</td><td>{x.open}</td><td>{x.acknowledged}</td>"
                       f"<td>{e(_secs(x.mtta_seconds))}</td><td>{e(_secs(x.mttr_seconds))}</td><td>{x.suppressed}</td></tr>"
                       for x in d.summary)
        eps = ", ".join(f"{kind} {n}" for kind, n in d.episodes) or "none"
        attached = (f"<p>Attached: {e(csv_filename(d))} ({d.csv_rows} alerts, every severity)</p>"
                    if d.csv_text is not None else "") + (f"<p><b>{e(d.cap_note)}</b></p>" if d.cap_note else "")
        summary = ("<h3>Every severity</h3><table border=1 cellpadding=4><tr><th>sev</th><th>alerts</th><th>open</th>"
                   f"<th>acked</th><th>MTTA</th><th>MTTR</th><th>suppressed</th></tr>{rows}</table>"
                   f"<p>Suppressed episodes (silenced / inhibited): {e(eps)}</p>{attached}<h3>P3 alerts, in full</h3>")
    return (f"<html><body><h2>D76 daily digest</h2><p>{e(_fmt(d.since))} .. {e(_fmt(d.until))}</p>{summary}"
            f"<p><b>Total</b>: {len(d.alerts)} &middot; <b>open</b>: {len(d.open)} &middot; "
            f"<b>resolved</b>: {len(d.resolved)}</p><h3>Top alertnames</h3><table border=1 cellpadding=4>"
            f"<tr><th>alertname</th><th>count</th></tr>{top}</table>{''.join(sections)}</body></html>")


def render_digest_email(d: DigestContent, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    msg = EmailMessage()
    total = sum(x.alerts for x in d.summary) if d.summary else len(d.alerts)
    msg["Subject"] = (f"[D76] daily digest {d.until:%Y-%m-%d}: {total} alerts, P3 {len(d.alerts)} "
                      f"({len(d.open)} open)")
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="d76.local")
    msg.set_content(render_text(d))
    msg.add_alternative(render_html(d), subtype="html")
    if d.csv_text is not None:
        msg.add_attachment(d.csv_text.encode("utf-8"), maintype="text", subtype="csv", filename=csv_filename(d))
    return msg


def render_escalation_email(alerts: Sequence[AlertView], *, step: int, sender: str,
                            recipients: Sequence[str]) -> EmailMessage:
    """Alerts nobody has acknowledged, escalated to these recipients (plain text)."""
    msg = EmailMessage()
    first = alerts[0] if alerts else None
    if len(alerts) == 1 and first is not None:
        subject = f"[D76] escalation: [{first.severity}] {first.title} (nobody has acknowledged it)"
    else:
        subject = f"[D76] escalation: {len(alerts)} alerts nobody has acknowledged"
    msg["Subject"] = subject[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="d76.local")
    lines = [f"Escalation step {step}: nobody has acknowledged {'this alert' if len(alerts) == 1 else 'these alerts'}.",
             ""]
    for a in alerts:
        fired = a.firing_seconds()
        lines += [f"[{a.severity}] {a.title}  (#{a.id})", f"  {a.alertname}: {_labels(a)}",
                  f"  firing since {_fmt(a.starts_at)}" + (f" ({format_duration(fired)})" if fired is not None else "")]
        lines += [f"  {label}{v}" for label, v in (("value: ", a.value), ("", a.message), ("runbook: ", a.runbook_url))
                  if v]
        lines.append("")
    lines.append("Acknowledge with the Ack button in Telegram, /ack ID, or `d76 ack ID`.")
    msg.set_content("\n".join(lines) + "\n")
    return msg


class SMTPSender:
    def __init__(self, host: str, port: int = 25, *, user: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout: float = 15.0, ca_file: str | None = None) -> None:
        self.host, self.port, self.user, self._password = host, int(port), user, password
        self.starttls, self.timeout, self.ca_file = starttls, timeout, ca_file

    def __repr__(self) -> str:
        return f"SMTPSender(host={self.host!r}, port={self.port}, user={self.user!r}, password=***)"

    def send(self, msg: EmailMessage) -> str:
        """Send; returns the Message-ID. Raises DeliveryError (no password in any text)."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    # certificate and host name are verified (system CAs, or SMTP_CA_FILE)
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                    smtp.ehlo()
                if self.user:
                    try:
                        smtp.login(self.user, self._password or "")
                    except (smtplib.SMTPAuthenticationError, smtplib.SMTPServerDisconnected):
                        # aiosmtpd and others hang up after a failed AUTH
                        raise DeliveryError("smtp: authentication failed", permanent=True) from None
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"smtp: authentication failed ({exc.smtp_code})", permanent=True,
                                status=exc.smtp_code) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            said = exc.smtp_error
            reply = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
            raise DeliveryError(f"smtp: {code} {reply[:200]}",
                                permanent=500 <= code < 600, status=code) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"smtp: TLS failed ({exc.reason or type(exc).__name__})", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"smtp: recipients refused ({len(exc.recipients)})", permanent=True) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}") from None
        return str(msg["Message-ID"])


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str | None = setting("SMTP_HOST", None, "the SMTP server the daily digest is sent through", text)
    smtp_port: int = setting("SMTP_PORT", 25, "its port", integer(1, 65535))
    smtp_user: str | None = setting("SMTP_USER", None, "login (with SMTP_PASSWORD); unset: no login", text)
    smtp_password: str | None = setting("SMTP_PASSWORD", None, "the SMTP login's password", text, secret=True)
    smtp_starttls: bool = setting("SMTP_STARTTLS", False, "STARTTLS before the login (certificate and host name "
                                  "verified)", flag)
    smtp_ca_file: str | None = setting("SMTP_CA_FILE", None, "CA bundle for STARTTLS instead of the system's",
                                       text)
    mail_from: str | None = setting("ALERT_EMAIL_FROM", None, "the digest's From", text)
    mail_to: tuple[str, ...] = setting("ALERT_EMAIL_TO", (), "its recipients, comma separated", items)

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host and self.mail_from and self.mail_to)


@register
class EmailChannel:
    """The daily digest by email. Not per alert: the digest scheduler queues one `digest` row a day
    and `webhook_receiver.notify.digest` builds its content."""

    name: ClassVar[str] = "email"
    settings: ClassVar[SettingsClass] = EmailSettings
    settings_keys: ClassVar[tuple[str, ...]] = ("SMTP_HOST",)
    per_alert: ClassVar[bool] = False
    can_edit: ClassVar[bool] = False

    def __init__(self, sender: SMTPSender, mail_from: str, mail_to: Sequence[str]) -> None:
        self.sender = sender
        self.mail_from = mail_from
        self.mail_to = tuple(mail_to)
        self.limits = ChannelLimits(min_interval=0.0, per_minute=60, max_chars=10_000_000)

    @classmethod
    def from_settings(cls, raw: Mapping[str, str], notify: NotifySettings) -> EmailChannel | None:
        s = load(EmailSettings, raw)
        if not s.enabled:
            return None
        sender = SMTPSender(s.smtp_host or "", s.smtp_port, user=s.smtp_user, password=s.smtp_password,
                            starttls=s.smtp_starttls, ca_file=s.smtp_ca_file)
        return cls(sender, s.mail_from or "", s.mail_to)

    def destinations(self, severity: str, labels: Mapping[str, str]) -> list[Destination]:
        return []  # nothing per alert

    def digest_destination(self) -> str:
        return DIGEST_DESTINATION

    def render_single(self, notice: Notice, destination: str) -> list[Part]:
        if notice.kind == NotificationKind.ESCALATION:
            return [self._escalation([notice])]
        content = notice.payload.get("content")
        if notice.kind != NotificationKind.DIGEST or not isinstance(content, DigestContent):
            raise DeliveryError(f"email: cannot send a {notice.kind!r} notice", permanent=True)
        msg = render_digest_email(content, sender=self.mail_from, recipients=self.mail_to)
        return [Part(str(msg["Subject"]), {"email": msg})]

    def render_packed(self, notices: Sequence[Notice], destination: str, *, tail: Sequence[TailCount] = (),
                      fit: bool = True, message_ref: int | None = None) -> tuple[Part, int]:
        if notices and notices[0].kind == NotificationKind.ESCALATION:
            mine = [n for n in notices if n.kind == NotificationKind.ESCALATION]
            return self._escalation(mine), len(mine)
        return self.render_single(notices[0], destination)[0], 1

    def _escalation(self, notices: Sequence[Notice]) -> Part:
        """An escalation step by e-mail: to the step's `to` (else ALERT_EMAIL_TO)."""
        to = [str(x) for n in notices for x in (n.payload.get("to") or [])] or list(self.mail_to)
        msg = render_escalation_email([n.alert for n in notices if n.alert is not None],
                                      step=int(notices[0].payload.get("step") or 1), sender=self.mail_from,
                                      recipients=list(dict.fromkeys(to)))
        return Part(str(msg["Subject"]), {"email": msg})

    def send(self, destination: str, part: Part, *, reply_to: str | None = None) -> str | None:
        msg = part.extras["email"]
        if not isinstance(msg, EmailMessage):
            raise DeliveryError("email: the part carries no message", permanent=True)
        return self.sender.send(msg)

    def edit(self, destination: str, remote_id: str, part: Part) -> None:
        raise NotImplementedError("email cannot be edited")

