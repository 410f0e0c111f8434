"""The socket's wire shapes added for issue 14, as golden files.

``frame_ended_v1.json``: the last frame of a socket whose credentials ended. A page from
before it ignores the unknown frame type; on the close code that follows (4401) it
reconnects with backoff and is refused (HTTP 403) until reloaded, which shows the login page.
``stream_token_payload_v2.json``: a stream token's signed payload, now with the user's token
generation (``g``). A token without it (issued before) is refused: the script asks for a new
one; a client from before reads only ``u`` and ``a`` and ignores ``g``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core import signing

from reactive_users.client import frames, tokens

DATA = Path(__file__).parent / "data"


def test_the_ended_frame_is_the_golden_one():
    golden = json.loads((DATA / "frame_ended_v1.json").read_text())

    assert frames.ended_frame(reason=frames.EndReason.LOGGED_OUT) == golden


def test_a_stream_tokens_payload_is_the_golden_one():
    golden = json.loads((DATA / "stream_token_payload_v2.json").read_text())
    token = tokens.issue(
        user_id=7, stamp="abc123", generation=2, secret="s" * 50, client="shop", now=1_800_000_000
    )

    assert json.loads(signing.b64_decode(token.split(":")[0].encode())) == golden
