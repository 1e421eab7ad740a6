"""Vigie alerts service: Alert fan-out, human decisions and alert history."""
