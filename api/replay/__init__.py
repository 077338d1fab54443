"""``bandit-router replay``: the offline evaluator on real datasets."""
