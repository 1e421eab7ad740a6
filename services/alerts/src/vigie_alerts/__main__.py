"""Entry point of the alerts service on Kafka: `python -m vigie_alerts` (= `vigie alerts`)."""

import sys

from vigie_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", "alerts", *sys.argv[1:]]))
