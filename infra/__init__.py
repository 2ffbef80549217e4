"""The mlops environment stack: typed configuration, the Pulumi program and its tooling."""
