"""python -m chatzoo_widget.records --ts > js/src/records.ts"""

import sys

from .typescript import typescript


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--ts"]:
        print("usage: python -m chatzoo_widget.records --ts > js/src/records.ts", file=sys.stderr)
        return 2
    sys.stdout.write(typescript())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
