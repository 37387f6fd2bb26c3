"""A Slack-compatible incoming webhook for SLO alerts (TESTINTEL_ALERT_WEBHOOK_URL)."""

from __future__ import annotations

import dagster as dg
import requests

from resources.http import request_with_retries


class AlertWebhookResource(dg.ConfigurableResource):
    """Posts `{"text": ...}`, the payload Slack, Mattermost and Teams' Slack mode accept. Empty url: off."""

    url: str = ""

    def post(self, text: str) -> bool:
        if not self.url:
            return False
        with requests.Session() as session:
            request_with_retries(session, "POST", self.url, json={"text": text}, max_attempts=3, timeout=10)
        return True
