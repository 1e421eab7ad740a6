"""Entry point of the face service on Kafka: `python -m vigie_face` (= `vigie serve face`;
`vigie face` is the evaluate/models command group)."""

import sys

from vigie_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", "face", *sys.argv[1:]]))
