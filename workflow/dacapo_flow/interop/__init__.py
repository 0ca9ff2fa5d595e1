"""Interoperability with DaCapo: its checkpoints, run configs and stores."""
