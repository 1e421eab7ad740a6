"""Pure detection logic: the Detections type and class names. No torch, cv2 or Kafka."""
