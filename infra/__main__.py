"""Entry point the Pulumi Python language host runs (`main: infra/` in Pulumi.yaml)."""

from infra.program import main

main()
