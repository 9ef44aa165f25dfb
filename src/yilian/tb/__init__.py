"""tb domain."""
