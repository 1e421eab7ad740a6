"""Entry point of the ingest service on Kafka: `python -m vigie_ingest` (= `vigie ingest`)."""

import sys

from vigie_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", "ingest", *sys.argv[1:]]))
