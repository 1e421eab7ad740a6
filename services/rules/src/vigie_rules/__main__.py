"""Entry point of the rules service on Kafka: `python -m vigie_rules` (= `vigie rules`)."""

import sys

from vigie_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", "rules", *sys.argv[1:]]))
