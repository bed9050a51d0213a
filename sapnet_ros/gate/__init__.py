"""The rain gate: how rainy a frame looks (estimator), when to derain (gate), and the estimator's training."""
