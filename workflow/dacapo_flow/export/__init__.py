"""Sharing a selected model: bioimage.io packages and cellmap-flow scripts."""
