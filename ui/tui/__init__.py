"""The Textual app: screens, widgets and styles; it drives a `ui.runtime.run.context.UiContext`."""
