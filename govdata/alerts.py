"""Alerts to the data team: a failed or late run, by e-mail (SMTP) and/or a webhook.

The channels come from the settings (``GOVDATA_ALERT_SMTP_HOST`` + ``GOVDATA_ALERT_EMAIL_TO``,
``GOVDATA_ALERT_WEBHOOK_URL``); with none configured an alert is only logged. Every message
names the DAG, the task, the source system concerned and the reason, so the person on duty
knows what to look at without opening Airflow.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from core.settings import Settings, load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # "failed" or "late"
    dag_id: str
    task_id: str
    source: str  # the source system concerned, or "warehouse" / "portal"
    reason: str
    run_id: str = ""
    url: str = ""  # the task's log in the Airflow UI

    @property
    def subject(self) -> str:
        return f"[govdata] {self.kind}: {self.dag_id}.{self.task_id} ({self.source})"

    def text(self) -> str:
        lines = [
            f"DAG:    {self.dag_id}",
            f"Task:   {self.task_id}",
            f"Source: {self.source}",
            f"Run:    {self.run_id}",
            f"Reason: {self.reason}",
        ]
        if self.url:
            lines.append(f"Log:    {self.url}")
        return "\n".join(lines) + "\n"


def channels(settings: Settings) -> list[str]:
    """The configured channels, for the logs and the README's checks."""
    found = []
    if settings.alert_smtp_host and settings.alert_email_to:
        found.append(f"smtp://{settings.alert_smtp_host}:{settings.alert_smtp_port}")
    if settings.alert_webhook_url:
        found.append(settings.alert_webhook_url)
    return found


def send(settings: Settings, alert: Alert) -> list[str]:
    """Send the alert on every configured channel; returns the channels that took it.

    A channel that fails is logged and the others still get the alert: an alert is never the
    reason a second thing goes wrong.
    """
    log.warning("alert: %s — %s", alert.subject, alert.reason)
    delivered = []
    if settings.alert_smtp_host and settings.alert_email_to:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = settings.alert_email_from
        message["To"] = settings.alert_email_to
        message.set_content(alert.text())
        try:
            with smtplib.SMTP(
                settings.alert_smtp_host, settings.alert_smtp_port, timeout=30
            ) as mail:
                mail.send_message(message)
            delivered.append("smtp")
        except (OSError, smtplib.SMTPException) as error:
            log.error("alert e-mail via %s failed: %s", settings.alert_smtp_host, error)
    if settings.alert_webhook_url:
        try:
            answer = httpx.post(
                settings.alert_webhook_url,
                json={**asdict(alert), "subject": alert.subject, "text": alert.text()},
                timeout=30,
            )
            answer.raise_for_status()
            delivered.append("webhook")
        except httpx.HTTPError as error:
            log.error("alert webhook %s failed: %s", settings.alert_webhook_url, error)
    return delivered


def late_run(
    dag_id: str, source: str, minutes: float, context: dict[str, Any] | None = None
) -> list[str]:
    """Airflow's deadline callback (dags.common.deadline): a run still not finished ``minutes``
    after it was queued. Runs in the executor, with the platform's settings."""
    run = (context or {}).get("dag_run")
    run_id = str(run.get("run_id", "") if isinstance(run, dict) else getattr(run, "run_id", ""))
    alert = Alert(
        kind="late",
        dag_id=dag_id,
        task_id="(the whole run)",
        source=source,
        reason=f"the run has not finished {minutes:.0f} minutes after it was queued",
        run_id=run_id,
    )
    return send(load_settings(), alert)
