"""Clinical review: the multi-agent review (compliance, clinical, coverage, synthesis) and the human decision."""
