"""chronic domain."""
