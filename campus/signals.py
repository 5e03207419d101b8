"""Signals campus sends for apps above it (which campus may not import)."""

from django.dispatch import Signal

# Sent inside the withdrawing transaction with student, actor and request: a receiver
# that fails rolls the withdrawal back, so consent is never gone while data stays.
face_consent_withdrawn = Signal()

# Sent by `seed_demo` after the demo campus is committed, with `teacher` (the demo staff
# user) and `seed`; apps above campus add their demo data. Receivers return a summary line.
demo_campus_seeded = Signal()
