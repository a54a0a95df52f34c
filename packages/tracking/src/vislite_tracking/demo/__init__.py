"""``vislite-track-demo``: train the tracker on the embedded world and evaluate it against a baseline."""
