"""The HTTP API: channels submit cases, staff act on them, submitters follow them."""
