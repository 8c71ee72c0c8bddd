"""Web pages and the JSON API (the dashboard arrives with its own issue)."""
