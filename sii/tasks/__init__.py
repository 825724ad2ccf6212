"""Task pools for annotation, after LIMI: curated queries, hand-written or mined from a repository's merged
changes, reviewed by a human, then solved by an annotator working with the agent while sii records."""
