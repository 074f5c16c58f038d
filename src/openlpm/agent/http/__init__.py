"""The agent's REST API by resource: the system, its partitions, their migrations, their
consoles. Each router reads the agent's state through ``state.py``'s dependencies;
``openlpm.agent.api`` puts them together."""
