"""Auto-mode review of tool calls (`safeguards`): rules, classifier prompt and parse, results."""
