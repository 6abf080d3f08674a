"""deepinterest: generative recommendation with deep interests (DeepInterestGR)."""

__version__ = "0.1.0"
