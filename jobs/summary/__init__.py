"""Plain-language summaries of findings."""
