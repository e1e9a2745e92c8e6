"""plotfleet's live dashboard: the fleet status, refreshed over one SSH session per host."""
