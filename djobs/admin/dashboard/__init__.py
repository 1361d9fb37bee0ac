"""The dashboard page: its panels' queries, its views, and how it goes on an admin site."""
