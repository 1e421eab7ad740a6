"""Vigie's Kubernetes controller: Camera and Rule resources become events on the compacted topics
vigie.cameras.v1 and vigie.rules.v1, and their status reports what was published."""
