"""Signals campus sends for apps above it (which campus may not import)."""

from django.dispatch import Signal

# Sent inside the withdrawing transaction with student, actor and request: a receiver
# that fails rolls the withdrawal back, so consent is never gone while data stays.
face_consent_withdrawn = Signal()
