"""The master app as it was installed before December 2026: label ``users``."""
