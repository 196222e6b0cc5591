"""`pos run` without Textual: settings, devices, acceptance, background sync, the operator PIN."""
