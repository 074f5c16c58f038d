"""The mover service: carries a migration stream from one managed system to another."""
