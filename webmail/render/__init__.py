"""Turning mail bodies into safe HTML for the browser: the HTML sanitiser and plain-text rendering."""
