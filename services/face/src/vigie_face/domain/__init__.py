"""Pure face logic: no Kafka, gRPC, torch or av imports."""
