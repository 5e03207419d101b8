import django_filters

from accounts.choices import Role
from accounts.models import User
from config.filters import BooleanFilter, FilterSet


class UserFilter(FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    active = BooleanFilter(field_name="is_active")

    class Meta:
        model = User
        fields = ["role", "active"]
