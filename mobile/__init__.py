"""IRIIS Phyto field app (Kivy): offline identification, outbox and sync."""
