"""The `mlops` tooling: the command line, stack-file and catalogue edits, promotion, history,
challengers, smoke tests, the offline render (`mlops plan`) and the thin Automation API layer.
The Pulumi program (`infra/`) and `components/` never import it."""
