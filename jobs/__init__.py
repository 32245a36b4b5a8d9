"""Jobs above the layers: what the scheduler and the command line run (they wire layers together)."""
