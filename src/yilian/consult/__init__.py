"""consult domain."""
