"""CaseWorkflow and the dataclasses of its messages."""
