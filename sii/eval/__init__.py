"""`sii eval`: replay AgencyBench-style multi-subtask tasks against the agent, judged after each attempt, with
feedback rounds, recorded like any session, and scored with FTFC, SR@R and RC@R (see `sii.eval.metrics`)."""
