"""What a model is: its input images and windows, the variants, the network, its card and weights, forward-only scoring and saliency.

Used by both serving and training; imports neither.
"""
