"""The network: SAPNet, its weights, ONNX export, the fused inference graph and int8 quantization."""
