"""PagePilot's stream: the Faust app, its records, agents and learning code."""
