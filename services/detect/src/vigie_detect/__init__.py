"""Vigie detect service: Object detection and tracking: frames -> detections."""
