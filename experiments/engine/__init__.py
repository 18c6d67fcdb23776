"""Pure experiment logic: assignment, interleaving and statistics (no Django imports)."""
