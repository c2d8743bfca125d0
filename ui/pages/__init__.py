"""The pages of the main window, one per task at the counter."""
