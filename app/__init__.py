"""The desktop app: a tray icon and one window around the gateway, which runs on a worker thread."""
