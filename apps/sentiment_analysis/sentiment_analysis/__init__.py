"""The sentiment analysis model service: a classifier or a regressor, as the version's app config says."""
