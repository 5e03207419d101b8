from __future__ import annotations

import django_filters as filters
from django.db.models import Q

from config.filters import BooleanFilter, FilterSet, IntegerFilter, MultipleChoiceFilter

from .. import models
from ..choices import ComplaintCategory, ComplaintPriority, ComplaintStatus, StudentStatus, Weekday


class CodeFilter(FilterSet):
    """For catalogue entries known by a code (buildings, departments): ?code= or ?code__icontains=."""

    class Meta:
        fields = {"code": ["exact", "icontains"]}


class BuildingFilter(CodeFilter):
    class Meta(CodeFilter.Meta):
        model = models.Building


class RoomFilter(FilterSet):
    building_code = filters.CharFilter(field_name="building__code")
    min_capacity = IntegerFilter(field_name="capacity", lookup_expr="gte")

    class Meta:
        model = models.Room
        fields = ["building", "building_code", "min_capacity"]


class DepartmentFilter(CodeFilter):
    class Meta(CodeFilter.Meta):
        model = models.Department


class CourseFilter(FilterSet):
    department_code = filters.CharFilter(field_name="department__code")

    class Meta:
        model = models.Course
        fields = ["department", "department_code"]


class TermFilter(FilterSet):
    current_on = filters.DateFilter(method="filter_current_on")

    class Meta:
        model = models.Term
        fields = ["current_on"]

    def filter_current_on(self, queryset, name, value):
        return queryset.filter(start_date__lte=value, end_date__gte=value)


class SectionFilter(FilterSet):
    teacher = IntegerFilter(field_name="teachers", distinct=True)
    department = IntegerFilter(field_name="course__department")
    mine = BooleanFilter(method="filter_mine", label="Sections I teach")

    class Meta:
        model = models.Section
        fields = ["course", "term", "code", "teacher", "department", "mine"]

    def filter_mine(self, queryset, name, value):
        user = self.request.user if self.request else None
        if value is None or not getattr(user, "pk", None):
            return queryset
        return queryset.filter(teachers=user) if value else queryset.exclude(teachers=user)


class StudentFilter(FilterSet):
    status = filters.ChoiceFilter(choices=StudentStatus.choices)
    section = IntegerFilter(field_name="enrolments__section", distinct=True)
    has_face_consent = BooleanFilter(field_name="face_consent_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = models.Student
        fields = ["status", "section", "has_face_consent"]


class EnrolmentFilter(FilterSet):
    current_on = filters.DateFilter(method="filter_current_on")
    term = IntegerFilter(field_name="section__term")

    class Meta:
        model = models.Enrolment
        fields = ["section", "student", "term", "current_on"]

    def filter_current_on(self, queryset, name, value):
        return queryset.current_on(value)


class TeacherFilter(FilterSet):
    class Meta:
        model = models.Teacher
        fields = ["department"]


class TimetableSlotFilter(FilterSet):
    weekday = filters.ChoiceFilter(choices=Weekday.choices)
    building = IntegerFilter(field_name="room__building")
    term = IntegerFilter(field_name="section__term")
    teacher = IntegerFilter(field_name="section__teachers", distinct=True)
    on = filters.DateFilter(method="filter_on", label="Slots that meet on this date")

    class Meta:
        model = models.TimetableSlot
        fields = ["section", "room", "weekday", "building", "term", "teacher", "on"]

    def filter_on(self, queryset, name, value):
        return queryset.valid_on(value)


class ComplaintFilter(FilterSet):
    status = MultipleChoiceFilter(choices=ComplaintStatus.choices)
    category = filters.ChoiceFilter(choices=ComplaintCategory.choices)
    priority = filters.ChoiceFilter(choices=ComplaintPriority.choices)
    unassigned = BooleanFilter(field_name="assignee", lookup_expr="isnull")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    mine = BooleanFilter(method="filter_mine", label="Filed by or assigned to me")

    class Meta:
        model = models.Complaint
        fields = ["status", "category", "priority", "room", "assignee", "author", "unassigned"]

    def filter_mine(self, queryset, name, value):
        user = self.request.user if self.request else None
        if not value or not getattr(user, "pk", None):
            return queryset
        return queryset.filter(Q(author=user) | Q(assignee=user))


class ComplaintCommentFilter(FilterSet):
    class Meta:
        model = models.ComplaintComment
        fields = ["complaint", "author"]
