"""Making and measuring models: corpora, fits, speaker-grouped cross-validation, baselines, reports and releases."""
