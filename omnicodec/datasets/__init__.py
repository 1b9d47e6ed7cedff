"""Readers and writers that turn files into codec items and back (images, audio, video, bytes)."""
