"""Scoring recordings with trained weights: the Detector, batch scoring, the page's texts and figures, weights from the Hub.

Imports no training module, no scikit-learn and no tqdm (a test checks it in a fresh interpreter).
"""
