"""Entry point of the detect service on Kafka: `python -m vigie_detect` (= `vigie detect`)."""

import sys

from vigie_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", "detect", *sys.argv[1:]]))
