"""Prometheus metrics of the rules service (vigie_rules_*); labels are bounded."""

from prometheus_client import Counter

ALERTS = Counter("vigie_rules_alerts_total", "Alerts raised, by rule kind.", ["kind"])
FRAMES = Counter("vigie_rules_frames_total", "Detection frames evaluated, by runtime and outcome "
                 "(evaluated, redelivered, dead_lettered).", ["runtime", "outcome"])
