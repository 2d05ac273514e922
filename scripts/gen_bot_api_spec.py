"""Extract a compact method table from the Bot API spec into ``offline/data/bot_api_methods.json``.

The offline Bot API validates every call against this table, so the repository never needs the
full spec at run time. Usage::

    python scripts/gen_bot_api_spec.py [path/to/api.json] [--out offline/data/bot_api_methods.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "offline" / "data" / "bot_api_methods.json"
# Same search order as the shared spec's own tooling: an explicit env var, then ../shared.
SPEC_CANDIDATES = (
    os.environ.get("FAKE_TG_SPEC", ""),
    str(ROOT.parent / "shared" / "telegram-bot-api-spec" / "api.json"),
)


def find_spec() -> Path:
    """The first spec file that exists."""
    for candidate in SPEC_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit("api.json not found; pass its path or set FAKE_TG_SPEC")


def compact(spec: dict[str, Any]) -> dict[str, Any]:
    """Method name -> {param: {"required", "types"}}, plus the spec's version stamp."""
    methods = {
        name: {
            field["name"]: {"required": bool(field["required"]), "types": list(field["types"])}
            for field in method.get("fields", [])
        }
        for name, method in sorted(spec["methods"].items())
    }
    return {
        "version": spec.get("version"),
        "release_date": spec.get("release_date"),
        "methods": methods,
    }


def render(table: dict[str, Any]) -> str:
    """JSON with one parameter per line, so a spec refresh gives a readable diff."""
    lines = ["{", f' "version": {json.dumps(table["version"])},']
    lines.append(f' "release_date": {json.dumps(table["release_date"])},')
    lines.append(' "methods": {')
    methods = list(table["methods"].items())
    for index, (name, params) in enumerate(methods):
        rows = [f"    {json.dumps(key)}: {json.dumps(value)}" for key, value in params.items()]
        body = "{\n" + ",\n".join(rows) + "\n  }" if rows else "{}"
        comma = "," if index < len(methods) - 1 else ""
        lines.append(f"  {json.dumps(name)}: {body}{comma}")
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Read the spec, write the compact table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, help="path to api.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    spec_path = args.spec or find_spec()
    table = compact(json.loads(spec_path.read_text(encoding="utf-8")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(table), encoding="utf-8")
    print(f"{len(table['methods'])} methods ({table['version']}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
