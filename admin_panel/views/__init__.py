"""Views of the admin panel, one module per area; each gets its objects from admin_panel.access."""
