"""winback command line and the embedded development stack."""
