"""The main window's pages: overview, models, backends, requests and settings."""
