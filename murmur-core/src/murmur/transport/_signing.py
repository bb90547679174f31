"""HMAC signing of envelopes, with key rotation, and replay refusal.

The signature is `HMAC-SHA256(key, canonical(frame minus "signature"))`, hex encoded, where
the canonical form is the frame as JSON with sorted keys and no whitespace: every field is
covered, the input included. Several keys may be configured: frames are signed with the
first and accepted when any of them verifies, so a key is rotated by deploying
`[new, old]` everywhere, then `[new]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from murmur.core.errors import SpawnError

__all__ = ["EnvelopeSigner", "SigningKeys", "canonical", "check_freshness"]

SigningKeys = str | bytes | Sequence[str | bytes] | None
"""One key, several keys (the first signs), or None (no signing)."""


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the frame without `signature`, as sorted-key JSON."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _normalize(keys: SigningKeys) -> tuple[bytes, ...]:
    if keys is None:
        return ()
    items: Sequence[str | bytes] = [keys] if isinstance(keys, str | bytes) else list(keys)
    out: list[bytes] = []
    for key in items:
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if not raw:
            raise SpawnError(
                "an empty broker signing key was given; pass a long random secret "
                "(for example secrets.token_hex(32)) or None to disable signing",
                code="invalid_options",
            )
        out.append(raw)
    return tuple(out)


class EnvelopeSigner:
    """Signs and verifies frames with one or more HMAC keys.

    Args:
        keys: One key, or several (signing uses the first; verification accepts any).
            None or an empty list disables signing: frames go out unsigned and are
            accepted unverified.

    Example:
        ```python
        signer = EnvelopeSigner(["new-secret", "old-secret"])
        frame = signer.sign({"kind": "task", "task_id": "t1"})
        assert signer.verify(frame) is None
        ```
    """

    def __init__(self, keys: SigningKeys = None) -> None:
        self._keys = _normalize(keys)

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._keys)

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with its `signature` set (unchanged when signing is disabled).

        Raises:
            SpawnError: `body` is not JSON-serializable (code `not_serializable`).
        """
        if not self._keys:
            return body
        try:
            message = canonical(body)
        except (ValueError, TypeError, RecursionError) as exc:
            raise SpawnError(
                f"a {body.get('kind', 'broker')} frame cannot be signed: it is not "
                f"JSON-serializable ({type(exc).__name__}: {exc}); task inputs and outputs "
                "sent over a broker must be JSON (str, numbers, lists, dicts, or pydantic "
                "models) and valid Unicode",
                code="not_serializable",
            ) from None
        signed = dict(body)
        signed["signature"] = hmac.new(self._keys[0], message, hashlib.sha256).hexdigest()
        return signed

    def verify(self, body: object) -> str | None:
        """None when `body` is acceptable, else the rejection reason.

        Reasons: `"unsigned"` (a key is configured and the frame has no signature),
        `"bad_signature"` (no configured key produced it), `"malformed"` (not a dict, or
        a frame no signer could have produced: it has no canonical form). With no key
        configured, every dict is acceptable. Total: never raises, whatever `body` holds.
        """
        if not isinstance(body, dict):
            return "malformed"
        if not self._keys:
            return None
        signature = body.get("signature")
        if not isinstance(signature, str) or not signature:
            return "unsigned"
        if not signature.isascii():  # compare_digest refuses non-ASCII str; no hex digest has it
            return "bad_signature"
        try:
            message = canonical(body)
        except (ValueError, TypeError, RecursionError):  # a lone surrogate, a non-JSON value
            return "malformed"
        given = signature.encode("ascii")
        for key in self._keys:
            expected = hmac.new(key, message, hashlib.sha256).hexdigest().encode("ascii")
            if hmac.compare_digest(expected, given):
                return None
        return "bad_signature"


def check_freshness(
    body: dict[str, Any],
    *,
    max_age_s: float,
    max_skew_s: float = 60.0,
    now: float | None = None,
) -> str | None:
    """None when the frame's `timestamp` is inside the replay window, else the reason.

    The reasons: `"no_timestamp"` (missing, not a number, or not finite), `"stale"` (older than
    `max_age_s`) or `"from_future"` (more than `max_skew_s` ahead of this clock).
    """
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        return "no_timestamp"
    if isinstance(timestamp, float) and not math.isfinite(timestamp):  # NaN would pass
        return "no_timestamp"
    current = time.time() if now is None else now
    if timestamp > current + max_skew_s:
        return "from_future"
    if timestamp < current - max_age_s:
        return "stale"
    return None
