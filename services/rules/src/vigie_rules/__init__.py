"""Vigie rules service: Rules engine: detections, face matches and reports -> alerts and stats."""
