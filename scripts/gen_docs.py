"""Regenerate the generated parts of README.md (the configuration reference).

    python scripts/gen_docs.py          # rewrite README.md in place
    python scripts/gen_docs.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.settings import config_reference_markdown  # noqa: E402

README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- config:start -->\n).*?(<!-- config:end -->)", re.S)


def render(readme: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + config_reference_markdown() + "\n" + m.group(2), readme)


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
