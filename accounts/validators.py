"""Password rules beyond Django's: upper, lower, digit, symbol; at most 128 characters."""

from __future__ import annotations

import string

from django.core.exceptions import ValidationError


class PasswordCompositionValidator:
    max_length = 128

    def validate(self, password: str, user=None) -> None:
        problems = []
        if len(password) > self.max_length:
            problems.append(f"The password must be at most {self.max_length} characters.")
        if not any(c.isupper() for c in password):
            problems.append("The password must contain an upper-case letter.")
        if not any(c.islower() for c in password):
            problems.append("The password must contain a lower-case letter.")
        if not any(c.isdigit() for c in password):
            problems.append("The password must contain a digit.")
        if not any(c in string.punctuation or (not c.isalnum() and not c.isspace()) for c in password):
            problems.append("The password must contain a symbol.")
        if problems:
            raise ValidationError(problems, code="password_composition")

    def get_help_text(self) -> str:
        return "Use 10 to 128 characters with upper- and lower-case letters, a digit and a symbol."
