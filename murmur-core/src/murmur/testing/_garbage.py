"""Hypothesis strategies for what a hostile or broken publisher writes to a task queue.

Every frame drawn here must be refused by a worker holding `signer`'s key, whatever the
broker: it is not JSON, not an object, not valid Unicode, nested past any parser, not a
task, unsigned, signed with another key, signed with a junk signature, or correctly signed
around a field no caller sends (a wrong type, an impossible value).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from murmur.core.errors import SpawnError
from murmur.transport import EnvelopeSigner, TaskEnvelope

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - hypothesis is a test dependency
    raise ImportError("murmur.testing.hostile needs hypothesis: pip install hypothesis") from exc

__all__ = ["garbage_frames", "lone_surrogate_frame", "poison_frames", "spoiled"]

_WRONG_KEY = EnvelopeSigner("not-the-fleet-key")

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
_lists_or_dicts = st.lists(st.integers(), max_size=3) | st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2
)
_not_str = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), _lists_or_dicts)
_not_int = st.one_of(
    st.text(max_size=5), st.floats(allow_nan=False), st.booleans(), _lists_or_dicts
)
_not_number = st.one_of(st.text(max_size=5), st.booleans(), _lists_or_dicts)
_huge = st.builds(lambda ch, n: ch * n, st.sampled_from("xé"), st.integers(65_536, 120_000))
"""64 to 120 thousand characters (at most ~720 kB of JSON: under every broker's default
message size limit)."""
_not_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])

WRONG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["result", "event", "cancel", "", "TASK"]) | _not_str,
    "v": _not_int | st.none(),
    "task_id": _not_str | st.none() | st.just(""),
    "agent_name": _not_str | st.none(),
    "trace_id": _not_str | st.none(),
    "parent_trace_id": _not_str,
    "traceparent": _not_str,
    "attempt": _not_int | st.none() | st.integers(max_value=0),
    "deadline": _not_number | _not_finite,
    "reply_to": _not_str | st.none() | st.just(""),
    "remaining_tokens": _not_int | st.integers(max_value=-1),
    "metadata": _not_str.filter(lambda v: not isinstance(v, dict)) | st.none(),
    "timestamp": _not_number | _not_finite | st.none(),
    "nonce": _not_str | st.none() | st.just("") | st.integers(257, 4096).map(lambda n: "n" * n),
}
"""For every envelope field, values no caller sends (strict types, sane values)."""


def _envelope(agent_name: str, **fields: Any) -> dict[str, Any]:
    return TaskEnvelope(
        task_id=uuid.uuid4().hex,
        agent_name=agent_name,
        input="hostile",
        trace_id=uuid.uuid4().hex,
        reply_to="nobody",
        **fields,
    ).body()


def _dump(body: Any) -> bytes:
    """JSON as any publisher could write it: lone surrogates escaped, NaN as `NaN`."""
    return json.dumps(body, ensure_ascii=True).encode()


def _sign(body: dict[str, Any], how: str, signer: EnvelopeSigner, junk: Any) -> dict[str, Any]:
    """`body` signed with the fleet's key, another key, a junk signature, or none."""
    if how in ("right", "wrong"):
        try:
            return (signer if how == "right" else _WRONG_KEY).sign(body)
        except SpawnError:  # a lone surrogate: no signer can sign it, so it goes out junk
            how = "junk"
    if how == "junk":
        return {**body, "signature": junk}
    return {k: v for k, v in body.items() if k != "signature"}


def _deep(depth: int, opener: bytes) -> bytes:
    """`depth` nested lists or objects: past any JSON parser's recursion limit."""
    if opener == b"[":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def lone_surrogate_frame(agent_name: str, signer: EnvelopeSigner, field: str = "input") -> bytes:
    r"""A signed-looking task whose `field` holds a lone surrogate (`"\ud800"`)."""
    body = _envelope(agent_name)
    body[field] = "\ud800"
    body["signature"] = "0" * 64
    return _dump(body)


def poison_frames(agent_name: str, signer: EnvelopeSigner) -> dict[str, bytes]:
    """The poison messages of issue 9, by name: each one looped forever before the fix."""
    body = _envelope(agent_name)
    return {
        "non-ASCII signature": _dump({**signer.sign(body), "signature": "é" * 64}),
        "100,000 levels of nesting": b"[" * 100_000 + b"]" * 100_000,
        "lone surrogate in the input": lone_surrogate_frame(agent_name, signer),
        "lone surrogate in the signature": _dump({**body, "signature": "\udfff" * 64}),
        "invalid UTF-8": b'{"kind":"task","task_id":"\xed\xa0\x80"}',
        "empty body": b"",
        "NaN timestamp, correctly signed": _dump(signer.sign({**body, "timestamp": float("nan")})),
        "negative budget, correctly signed": _dump(signer.sign({**body, "remaining_tokens": -1})),
    }


def spoiled(body: dict[str, Any], signer: EnvelopeSigner) -> list[bytes]:
    """Broken copies of a frame that `signer` would accept.

    A non-ASCII signature, a lone surrogate, a signature of the wrong type, a field nested 100,000
    levels deep.
    """
    signed = signer.sign(body)
    deep = _deep(100_000, b"[")
    return [
        _dump({**signed, "signature": "é" * 64}),
        _dump({**signed, "nonce": "\ud800"}),
        _dump({**signed, "signature": ["not", "a", "string"]}),
        _dump(signed)[:-1] + b',"extra":' + deep + b"}",
    ]


def garbage_frames(agent_name: str, signer: EnvelopeSigner) -> st.SearchStrategy[bytes]:
    """Frames a worker holding `signer`'s key must reject, for `agent_name`'s queue."""
    junk_signature = st.one_of(
        _surrogates,
        _huge,
        st.text(min_size=1, max_size=80),
        st.text("0123456789abcdef", min_size=64, max_size=64),
        _not_str,
        st.none(),
    )
    wrong_field = st.sampled_from(sorted(WRONG_VALUES)).flatmap(
        lambda name: st.tuples(st.just(name), WRONG_VALUES[name])
    )
    wrong_type = st.builds(
        lambda change, how, junk: _dump(
            _sign({**_envelope(agent_name), change[0]: change[1]}, how, signer, junk)
        ),
        wrong_field,
        st.sampled_from(["right", "wrong", "junk", "none"]),
        junk_signature,
    )
    unverifiable = st.builds(
        lambda field, value, how, junk: _dump(
            _sign({**_envelope(agent_name), field: value}, how, signer, junk)
        ),
        st.sampled_from(["input", "task_id", "metadata", "trace_id"]),
        _json | _surrogates | _huge,
        st.sampled_from(["wrong", "junk", "none"]),
        junk_signature,
    )
    deep = st.builds(
        _deep, st.integers(min_value=1_000, max_value=100_000), st.sampled_from([b"[", b"{"])
    )
    deep_field = st.builds(
        lambda depth: _dump(_envelope(agent_name))[:-1] + b',"input":' + _deep(depth, b"[") + b"}",
        st.integers(min_value=1_000, max_value=50_000),
    )
    not_a_task = st.builds(_dump, _json.filter(lambda v: not isinstance(v, dict))) | st.builds(
        lambda kind: _dump(signer.sign({**_envelope(agent_name), "kind": kind})),
        st.sampled_from(["result", "event", "cancel"]),
    )
    return st.one_of(
        st.binary(max_size=512),
        deep,
        deep_field,
        wrong_type,
        unverifiable,
        not_a_task,
        st.just(lone_surrogate_frame(agent_name, signer, "signature")),
    )
