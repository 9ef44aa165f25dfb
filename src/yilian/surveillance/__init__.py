"""surveillance domain."""
