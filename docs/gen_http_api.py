"""Render the route reference of docs/http-api.md from the server's own OpenAPI schema.

    uv run python docs/gen_http_api.py          # rewrite the generated section
    uv run python docs/gen_http_api.py --check  # exit 1 when the page is out of date

The section between the BEGIN/END GENERATED markers is replaced; the rest of the page is
written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).with_name("http-api.md")
BEGIN = "<!-- BEGIN GENERATED: routes (docs/gen_http_api.py) -->"
END = "<!-- END GENERATED: routes -->"
_TAG_ORDER = ["runs", "events", "catalogue", "runtime", "health"]


def openapi() -> dict[str, Any]:
    """The schema of an app with a token (so the security scheme shows)."""
    from murmur_server import create_app

    from murmur import AgentRuntime
    from murmur.events import NullEventEmitter

    return create_app(AgentRuntime(event_emitter=NullEventEmitter()), token="-").openapi()


def type_of(schema: dict[str, Any]) -> str:
    """A short name for a JSON schema: a model name, list[...], X | null, a primitive."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(type_of(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "string" and schema.get("format") == "date-time":
        return "datetime"
    return str(kind or "any")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _response(op: dict[str, Any]) -> tuple[str, str]:
    for status in ("200", "202"):
        response = op.get("responses", {}).get(status)
        if response is None:
            continue
        content = response.get("content", {})
        if "text/event-stream" in content:
            return status, "text/event-stream"
        schema = content.get("application/json", {}).get("schema", {})
        return status, type_of(schema) if schema else "-"
    return "-", "-"


def _errors(op: dict[str, Any]) -> str:
    codes = sorted(s for s in op.get("responses", {}) if s.startswith(("4", "5")))
    return ", ".join(codes)


def _error_codes() -> list[str]:
    """The status of every error code, from the server's one table."""
    from murmur_server._errors import RETRY_AFTER_SECONDS, STATUS_BY_CODE

    by_status: dict[int, list[str]] = {}
    for code, status in STATUS_BY_CODE.items():
        by_status.setdefault(status, []).append(code)
    out = [
        "### Error codes",
        "",
        "Each error's status comes from its `code`. An unlisted code is classed by family "
        "(`store_*`, `broker_*`: 503; `invalid_*`: 422) and is otherwise 500. Codes marked "
        "with seconds carry that `Retry-After`; `too_many_auth_failures` carries the seconds "
        "until its client may try again.",
        "",
        "| Status | Codes |",
        "|---|---|",
    ]
    for status in sorted(by_status):
        codes = ", ".join(
            f"`{c}`" + (f" ({RETRY_AFTER_SECONDS[c]} s)" if c in RETRY_AFTER_SECONDS else "")
            for c in sorted(by_status[status])
        )
        out.append(f"| {status} | {codes} |")
    return [*out, ""]


def render(schema: dict[str, Any]) -> str:
    """The generated Markdown section."""
    rows: list[tuple[int, str, str, dict[str, Any]]] = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["health"])[0]
            order = _TAG_ORDER.index(tag) if tag in _TAG_ORDER else len(_TAG_ORDER)
            rows.append((order, path, method.upper(), op))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    out = [
        BEGIN,
        "",
        "| Method | Path | What | Body | Returns | Errors |",
        "|---|---|---|---|---|---|",
    ]
    for _, path, method, op in rows:
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        body_type = type_of(body["schema"]) if body else "-"
        status, returns = _response(op)
        out.append(
            f"| {method} | `{path}` | {_cell(op.get('summary', ''))} | {body_type} | "
            f"{status} {_cell(returns)} | {_errors(op)} |"
        )
    out.append("")
    for _, path, method, op in rows:
        out += [f"### {method} `{path}`", "", op.get("description", "").strip(), ""]
        params = [p for p in op.get("parameters", []) if p.get("in") in ("query", "header")]
        if params:
            out += ["| Parameter | In | Type | Default | Notes |", "|---|---|---|---|---|"]
            for p in params:
                sch = p.get("schema", {})
                default = sch.get("default")
                bounds = [sch, *sch.get("anyOf", [])]
                limits = ", ".join(
                    f"{k} {b[k]}"
                    for b in bounds
                    for k in ("minimum", "maximum", "minLength", "maxLength")
                    if k in b
                )
                notes = _cell(" ".join(x for x in (p.get("description", ""), limits) if x))
                shown = "-" if default is None else f"`{default}`"
                kind = _cell(type_of(sch))
                out.append(f"| `{p['name']}` | {p['in']} | {kind} | {shown} | {notes} |")
            out.append("")
    out += _error_codes()
    models = schema.get("components", {}).get("schemas", {})
    out += ["### Models", "", "| Model | Fields |", "|---|---|"]
    for name in sorted(models):
        if name.startswith(("HTTPValidationError", "ValidationError")):
            continue
        if "enum" in models[name]:
            out.append(f"| {name} | {_cell(type_of(models[name]))} |")
            continue
        props = models[name].get("properties", {})
        required = set(models[name].get("required", []))
        fields = ", ".join(
            f"`{k}`{'' if k in required else '?'}: {type_of(v)}" for k, v in props.items()
        )
        out.append(f"| {name} | {_cell(fields)} |")
    out += ["", END]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """Rewrite (or with --check, verify) the generated section of the page."""
    page = PAGE.read_text()
    start, end = page.index(BEGIN), page.index(END) + len(END)
    updated = page[:start] + render(openapi()) + page[end:]
    if "--check" in argv:
        if updated != page:
            print(f"{PAGE} is out of date: run uv run python docs/gen_http_api.py")
            return 1
        return 0
    PAGE.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
