"""A whole site on one machine: namespaces as systems, the partition image, the demo."""
