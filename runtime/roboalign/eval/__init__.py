"""Evaluation of checkpoints: held-out token metrics, the k-NN representation probe and
side-by-side comparisons. Reads checkpoints through policy/ and episodes through data/.
"""
