"""What a trained run is measured and shown by: --mode=evaluate (metrics, kNN, the Table 2
protocol), --mode=attributes, --mode=sample and --mode=embed, and the networks they train."""
