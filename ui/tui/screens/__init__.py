"""One Screen per mode (counter, vending, gate) and the shared result, history, PIN and settings
screens."""
