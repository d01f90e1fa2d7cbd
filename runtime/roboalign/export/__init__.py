"""Build time only: ONNX export, TensorRT engine build and parity checks against torch.
Imports policy/ (what it exports); serve-time runners live in policy/backends/, never here.
"""
