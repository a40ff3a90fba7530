"""Component trees of the app; each module owns the ids of what it creates."""
