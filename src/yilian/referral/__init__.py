"""referral domain."""
