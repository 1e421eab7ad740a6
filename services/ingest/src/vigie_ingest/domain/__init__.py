"""Pure ingest logic: camera validation, sampling, motion, health. No Kafka, gRPC or av imports."""
