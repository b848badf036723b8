"""Use a trained model: export, torch-free serving, batch prediction.

Importing this package must not import torch (serving promises a torch-free path)."""
