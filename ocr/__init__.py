"""A compact DBNet text detector (Liao et al., "Real-time Scene Text Detection with Differentiable
Binarization", AAAI 2020) in plain PyTorch: the real codebase that tracer is proven on."""
