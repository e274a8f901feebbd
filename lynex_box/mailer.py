"""Sends email through the `[smtp]` server from one worker thread, so no request ever waits on SMTP.

`submit()` only puts the message on a bounded queue and returns at once; the worker connects (STARTTLS
or implicit TLS with a verified certificate, or plain SMTP), logs in when a username is set, and sends,
retrying temporary failures with a doubling backoff. A permanent refusal (a 5xx reply) is not retried.
It must never log the SMTP password or a message body (bodies carry one-time links): log lines name the
kind of email, its recipient and the error only, and smtplib's debug output stays off.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from lynex_box.config import SmtpSettings

log = logging.getLogger("lynex.mailer")


class MailError(Exception):
    """A send that failed; `permanent` says whether trying again could help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class _Job:
    kind: str
    message: EmailMessage


def _describe(exc: BaseException) -> tuple[str, bool]:
    """(a log-safe description, permanent?) of an SMTP failure. Server replies never echo the password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the server refused the recipient", True
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication refused ({exc.smtp_code}); hint: check smtp.username and the password", True
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"the server does not support this: {exc}; hint: check smtp.security and smtp.port", True
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"the server answered {exc.smtp_code} {text[:200]}", exc.smtp_code >= 500
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}; hint: set smtp.ca_file", True
    return f"{type(exc).__name__}: {exc}", False


class Mailer:
    """One SMTP server, one worker thread (started on the first submit), one bounded queue."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=settings.max_pending)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, kind: str, message: EmailMessage) -> bool:
        """Queue `message` for sending; False (and a warning) when the queue is full or the mailer closed."""
        if self._stop.is_set():
            return False
        self._ensure_worker()
        try:
            self._queue.put_nowait(_Job(kind, message))
        except queue.Full:
            log.warning(
                "mail dropped kind=%s to=%s reason=queue_full max_pending=%d",
                kind,
                message["To"],
                self.settings.max_pending,
            )
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker (blocking; run in a thread). Emails still queued are dropped with a warning."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Full):  # when full, the worker sees the stop flag after its current message
            self._queue.put_nowait(None)
        thread.join(timeout_s)
        left = 0
        while True:
            try:
                left += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        if left:
            log.warning("mailer stopped with unsent emails count=%d", left)

    def send_now(self, message: EmailMessage) -> None:
        """One blocking attempt; MailError on failure. Called by the worker thread (and by tests)."""
        s = self.settings
        try:
            context = ssl.create_default_context(cafile=s.ca_file or None)
            client: smtplib.SMTP
            if s.security == "ssl":
                client = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=socket.gethostname(), timeout=s.timeout_s, context=context
                )
            else:
                client = smtplib.SMTP(s.host, s.port, local_hostname=socket.gethostname(), timeout=s.timeout_s)
            with client:
                client.ehlo()
                if s.security == "starttls":
                    client.starttls(context=context)  # raises SMTPNotSupportedError: never falls back to clear text
                    client.ehlo()
                if s.username:
                    client.login(s.username, self._password())
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            text, permanent = _describe(exc)
            raise MailError(text, permanent) from None

    def _password(self) -> str:
        if self.settings.password_file:
            # read at each send so a rotated secret applies without a restart
            return Path(self.settings.password_file).read_text().rstrip("\r\n")
        return self.settings.password

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lynex-mailer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            self._deliver(job)

    def _deliver(self, job: _Job) -> None:
        to = job.message["To"]
        delay = self.settings.retry_backoff_s
        for attempt in range(1, self.settings.retries + 2):
            try:
                self.send_now(job.message)
            except MailError as exc:
                last = attempt > self.settings.retries or exc.permanent
                log.warning(
                    "mail failed kind=%s to=%s attempt=%d final=%s error=%s",
                    job.kind,
                    to,
                    attempt,
                    str(last).lower(),
                    exc,
                )
                if last or self._stop.wait(delay):
                    return
                delay *= 2
            else:
                log.info("mail sent kind=%s to=%s attempt=%d", job.kind, to, attempt)
                return
