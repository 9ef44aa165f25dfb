"""familydoctor domain."""
