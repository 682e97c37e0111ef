"""Delivering one alert to one route: webhook (JSON POST), command (JSON on stdin), e-mail.

Every failure leaves here as a DeliveryError with a short reason that never
holds a secret (a Slack or Teams webhook URL is one, so URLs are never
quoted); `permanent` marks answers that retrying cannot fix (an HTTP 4xx
other than 408/425/429, an SMTP 5xx), which the queue then gives up.

Payload formats of a webhook:

    json   the event object itself (alert_events.event_payload)
    slack  {"text": "*DOWN* web (ACME Corp) is DOWN since ..."}  (incoming webhooks)
    teams  a message with one Adaptive Card (Teams "Workflows" webhooks)

Usage: ``await Sender().send(route, payload)`` (``async with Sender() as s`` closes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import signal
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import httpx

from . import __version__
from ._config_alerts import AlertRoute
from .sanitize import inert

RETRYABLE_4XX = (408, 425, 429)


class DeliveryError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    text = f"*{payload['title']}* {payload['summary']}"
    # Slack reads <...> as links and mentions (<!channel>): escape as its docs ask.
    return {"text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}


def teams_body(payload: dict[str, Any]) -> dict[str, Any]:
    facts = [{"title": k, "value": str(payload[k])} for k in
             ("probe", "client_name", "severity", "at", "since", "error") if payload.get(k)]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": payload["title"], "weight": "Bolder", "size": "Medium",
             "wrap": True},
            {"type": "TextBlock", "text": payload["summary"], "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def webhook_body(route: AlertRoute, payload: dict[str, Any]) -> bytes:
    body = (slack_body(payload) if route.format == "slack"
            else teams_body(payload) if route.format == "teams" else payload)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def email_message(route: AlertRoute, payload: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    who = payload["probe"] + (f" ({payload['client_name']})" if payload.get("client_name") else "")
    msg["Subject"] = inert(f"[slaprobe] {payload['title']}: {who}")[:250]
    msg["From"] = route.sender or ""
    msg["To"] = ", ".join(route.to)
    msg["Date"] = email.utils.formatdate(usegmt=True)
    domain = (route.sender or "").rpartition("@")[2].strip(" >") or "slaprobe.invalid"
    msg["Message-ID"] = email.utils.make_msgid("slaprobe", domain=domain)
    msg["X-Slaprobe-Event"] = inert(payload["key"])
    details = json.dumps(payload, indent=2, ensure_ascii=False)
    msg.set_content(f"{inert(payload['summary'])}\n\nDetails:\n{details}\n")
    return msg


class Sender:
    """Sends alerts; holds one HTTP client for all webhooks."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, route: AlertRoute, payload: dict[str, Any]) -> None:
        """Deliver or raise DeliveryError."""
        if route.kind == "webhook":
            await self._webhook(route, payload)
        elif route.kind == "command":
            await _command(route, payload)
        elif route.kind == "email":
            await _email(route, payload)
        else:
            raise DeliveryError(f"unknown route kind {route.kind!r}", permanent=True)

    async def _webhook(self, route: AlertRoute, payload: dict[str, Any]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": f"slaprobe/{__version__}", **dict(route.headers)}
        try:
            response = await self._http.post(route.url or "", content=webhook_body(route, payload),
                                             headers=headers, timeout=route.timeout)
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer within {route.timeout:g} s") from None
        except httpx.ConnectError as e:
            raise DeliveryError(f"cannot connect: {inert(str(e))[:200]}") from None
        except httpx.HTTPError as e:
            raise DeliveryError(f"HTTP error: {type(e).__name__}") from None
        if not 200 <= response.status_code < 300:
            text = inert(response.text[:200]) if response.content else ""
            raise DeliveryError(f"HTTP {response.status_code}" + (f": {text}" if text else ""),
                                permanent=400 <= response.status_code < 500
                                and response.status_code not in RETRYABLE_4XX)


async def _command(route: AlertRoute, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"
    env = {**os.environ, "SLAPROBE_EVENT": payload["event"], "SLAPROBE_KEY": payload["key"],
           "SLAPROBE_PROBE": payload["probe"]}
    try:
        proc = await asyncio.create_subprocess_exec(
            *route.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    except OSError as e:
        raise DeliveryError(f"cannot run {route.command[0]}: {e.strerror or e}") from None
    try:
        _, err = await asyncio.wait_for(proc.communicate(data), route.timeout)
    except TimeoutError:
        await _kill(proc)
        raise DeliveryError(f"{route.command[0]} did not finish within {route.timeout:g} s"
                            ) from None
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        tail = f": {inert(lines[-1])[:200]}" if lines else ""
        raise DeliveryError(f"{route.command[0]} exited with status {proc.returncode}{tail}")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the command and whatever it started (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()


async def _email(route: AlertRoute, payload: dict[str, Any]) -> None:
    message = email_message(route, payload)
    try:
        await asyncio.to_thread(_smtp_send, route, message)
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(f"SMTP {e.smtp_code}: {inert(_text(e.smtp_error))[:200]}",
                            permanent=e.smtp_code >= 500) from None
    except smtplib.SMTPRecipientsRefused as e:
        raise DeliveryError(f"SMTP refused the recipients {', '.join(e.recipients)}",
                            permanent=True) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise DeliveryError(f"SMTP {route.smtp_host}:{route.smtp_port}: "
                            f"{inert(reason)[:200] or type(e).__name__}") from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_send(route: AlertRoute, message: EmailMessage) -> None:
    with smtplib.SMTP(route.smtp_host or "", route.smtp_port, timeout=route.timeout) as smtp:
        smtp.ehlo()
        if route.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if route.username:
            smtp.login(route.username, route.password or "")
        smtp.send_message(message)
