"""Pure alerts logic: lifecycle, roles, routing policy, cooldowns, CAP rendering, signing,
retention, frame buffering. No Kafka, gRPC, HTTP, SQL or OpenCV imports here."""
