"""IRIIS Phyto inference core, shared by the API service and the field app.

Nothing in this package imports torch: the service and the phone run ONNX models only.
"""

__version__ = "0.1.0"
