"""Pure reconcile logic: resources in, topic records and status patches out (no Kubernetes client,
no Kafka)."""
