"""Schemathesis hooks for scripts/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

`POST /api/v1/organisations/{id}/tariffs` takes a TOML file
(`application/toml`), a media type schemathesis has no serializer for: send
the generated value as UTF-8 text, as for `text/plain`.
"""

import json

import schemathesis


@schemathesis.serializer("application/toml")
def toml_as_text(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    if not isinstance(value, str):
        value = json.dumps(value)
    return {"data": value.encode("utf-8")}
