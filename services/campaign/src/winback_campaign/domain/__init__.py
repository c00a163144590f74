"""Pure campaign rules: playbooks, enrolment, actions (no I/O)."""
