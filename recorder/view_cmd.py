"""Commands of this module are registered on the root group by recorder.cli."""

COMMANDS: list = []
