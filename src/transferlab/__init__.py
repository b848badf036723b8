"""transferlab: transfer learning you can measure."""
__version__ = "0.1.0"
