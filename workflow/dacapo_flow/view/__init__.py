"""`dacapo-flow view`: open a prediction target's (or a run's validation) data in a viewer."""
