"""How fast the step runs and against what: FLOP counts (flops.py) and --mode=benchmark."""
