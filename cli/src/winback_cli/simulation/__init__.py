"""The simulated business of `winback simulate`: customers who behave by a known model, and the truth about them."""
