"""Entry point the Pulumi Python language host runs (`main: infra/` in Pulumi.yaml): read the
stack's config, declare the environment, export its outputs."""

import pulumi

from infra.config import read_stack
from infra.program import deploy

outputs = deploy(read_stack())
for name, value in outputs.items():
    pulumi.export(name, value)
