"""Reports of a run: the claims results, the HTML page, topology pictures."""
