"""Small widgets shared by the screens; their styles live in ui/app.tcss."""
