"""SavedModel export of a trained VAEGAN for TF Serving, and a client for the served models.

saved_model.py writes WORKDIR/export/{encoder,decoder}/<step>/ and WORKDIR/export/models.config;
client.py builds REST and gRPC requests for them. Nothing is imported here, so that
`python -m export.client` starts without TensorFlow.
"""
