"""Quality metrics: FID, KID, IS, precision/recall, and their feature networks."""
