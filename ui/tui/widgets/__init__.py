"""Small widgets shared by the screens; their styles live in ui/tui/app.tcss."""
