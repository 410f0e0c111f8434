"""AWS calls counted server-side by moto's request recorder, and the bench's own SQS client.

moto 5 records every request it serves (headers, method, URL, body; one JSON object a line)
between ``POST /moto-api/recorder/start-recording`` and ``stop-recording`` into the file
named by ``MOTO_RECORDER_FILEPATH``; ``GET download-recording`` returns it and
``POST reset-recording`` empties it. Calls of the whole pipeline are counted there, by API.

The bench's own calls (queue-depth polls) are made with a distinct access key id
(``BENCH_ACCESS_KEY_ID``) and user agent; requests signed with that key are left out of the
counts and reported apart, so the output shows the filter at work.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

#: The access key id of the bench's own boto3 clients (moto accepts any; it files them
#: under its default account, so they see the pipeline's queues).
BENCH_ACCESS_KEY_ID = "reactivebench"
#: Appended to the user agent of the bench's own boto3 clients.
BENCH_USER_AGENT = "reactive-bench"


def bench_sqs(endpoint: str, region: str = "us-east-1") -> Any:
    """An SQS client of the bench's own, told apart from the pipeline's in the recording."""
    session = boto3.session.Session(
        aws_access_key_id=BENCH_ACCESS_KEY_ID,
        aws_secret_access_key="bench",
        region_name=region,
    )
    config = Config(user_agent_extra=BENCH_USER_AGENT, retries={"max_attempts": 2})
    return session.client("sqs", endpoint_url=endpoint, config=config)


@dataclass
class Calls:
    """AWS calls by API: the pipeline's, and the bench's own (excluded from the figures)."""

    pipeline: Counter[str] = field(default_factory=Counter)
    bench: Counter[str] = field(default_factory=Counter)
    #: Messages the pipeline's batch calls carried: entries of PublishBatch (published) and
    #: of DeleteMessageBatch (consumed). More than one per event is a duplicate.
    messages: Counter[str] = field(default_factory=Counter)

    def total(self) -> int:
        """All the pipeline's calls."""
        return sum(self.pipeline.values())

    def as_dict(self, events: int, deliveries: int) -> dict[str, Any]:
        """Counts, per master event and per delivery (event x client), by API."""
        total = self.total()
        return {
            "events": events,
            "deliveries": deliveries,
            "total": total,
            "per_event": total / events if events else None,
            "per_delivery": total / deliveries if deliveries else None,
            "by_api": dict(sorted(self.pipeline.items())),
            "by_api_per_event": {
                api: n / events for api, n in sorted(self.pipeline.items()) if events
            },
            "by_api_per_delivery": {
                api: n / deliveries for api, n in sorted(self.pipeline.items()) if deliveries
            },
            "bench_own_calls_excluded": dict(sorted(self.bench.items())),
            "messages": dict(self.messages),
            "messages_published_per_event": (
                self.messages["published"] / events if events else None
            ),
            "messages_deleted_per_delivery": (
                self.messages["deleted"] / deliveries if deliveries else None
            ),
        }


class Recorder:
    """Drives moto's request recorder over HTTP."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint.rstrip("/")

    def _call(self, action: str, method: str = "POST") -> bytes:
        url = f"{self.endpoint}/moto-api/recorder/{action}"
        data = b"" if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            body: bytes = response.read()
            return body

    def start(self) -> None:
        """Empty the recording and start recording."""
        self._call("reset-recording")
        self._call("start-recording")

    def stop(self) -> Calls:
        """Stop recording; the calls recorded since ``start``."""
        self._call("stop-recording")
        return count_calls(self._call("download-recording", method="GET").decode())


def _body(entry: dict[str, Any]) -> str:
    body = str(entry.get("body") or "")
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    return body


def _batch_size(action: str, body: str) -> int:
    """Entries of a PublishBatch (query form) or DeleteMessageBatch (JSON) request."""
    if action == "PublishBatch":
        form = urllib.parse.parse_qs(body)
        return sum(
            1
            for key in form
            if key.startswith("PublishBatchRequestEntries.member.") and key.endswith(".Id")
        )
    if action == "DeleteMessageBatch":
        try:
            return len(json.loads(body).get("Entries", []))
        except (ValueError, AttributeError):
            return 0
    return 0


def _action(entry: dict[str, Any], headers: dict[str, str]) -> str:
    target = headers.get("x-amz-target", "")
    if target:  # JSON protocol (SQS): "AmazonSQS.ReceiveMessage"
        return target.rsplit(".", 1)[-1]
    body = _body(entry)
    form = urllib.parse.parse_qs(body)  # query protocol (SNS): Action=PublishBatch
    if "Action" in form:
        return str(form["Action"][0])
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(str(entry.get("url", ""))).query)
    return str(query.get("Action", [f"{entry.get('method', '?')} {entry.get('url', '?')}"])[0])


def _access_key(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    _, _, rest = auth.partition("Credential=")
    return rest.split("/", 1)[0]


def entries(recording: str) -> list[dict[str, Any]]:
    """The recorded requests. moto's threads append to the file without a lock, so an entry's
    newline may land after another entry: read objects one after another, not lines."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    at = 0
    while True:
        start = recording.find("{", at)
        if start < 0:
            return found
        try:
            entry, at = decoder.raw_decode(recording, start)
        except json.JSONDecodeError:  # torn entry: skip to the next one
            at = start + 1
            continue
        if isinstance(entry, dict) and "headers" in entry:
            found.append(entry)


def count_calls(recording: str) -> Calls:
    """Count a downloaded recording's requests by API, the bench's own apart."""
    calls = Calls()
    for entry in entries(recording):
        headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
        mine = _access_key(headers) == BENCH_ACCESS_KEY_ID or BENCH_USER_AGENT in headers.get(
            "user-agent", ""
        )
        action = _action(entry, headers)
        (calls.bench if mine else calls.pipeline)[action] += 1
        if not mine and action in ("PublishBatch", "DeleteMessageBatch"):
            kind = "published" if action == "PublishBatch" else "deleted"
            calls.messages[kind] += _batch_size(action, _body(entry))
    return calls
