"""The package version, in a module of its own so that code inside the package (persist's manifests) can
read it without importing the package root, which imports every layer and entry point."""

__version__ = "0.1.0"
