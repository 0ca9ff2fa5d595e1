"""Paper outputs: leaderboards, curves and lineage of the runs (DESIGN §9). No torch."""
