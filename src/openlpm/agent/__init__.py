"""A managed system: its partitions as QEMU processes, its profile store, its resources."""
