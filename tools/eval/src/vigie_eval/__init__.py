"""Vigie accuracy evaluation: the product's own pipeline measured against ground truth."""
