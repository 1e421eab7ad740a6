"""Pure rules logic: no Kafka, gRPC, torch or av imports."""
