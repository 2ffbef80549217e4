"""The pure model of a project: the typed schema of stack files, the project file and the catalogue,
resolving pins + catalogue + settings levels into an Environment, worker types, quantities and
errors. No Pulumi import: the program, the components and the tooling all build on it."""
