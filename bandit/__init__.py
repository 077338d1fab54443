"""Contextual-bandit core: domain types, policies, the learner and the reward join rule."""
