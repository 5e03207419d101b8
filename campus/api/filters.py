from __future__ import annotations

from typing import ClassVar

import django_filters as filters
from django.db.models import Q

from config.filters import BooleanFilter, FilterSet, IntegerFilter, MultipleChoiceFilter

from .. import models
from ..choices import ComplaintCategory, ComplaintPriority, ComplaintStatus, StudentStatus, Weekday


class ListFilter(FilterSet):
    """A resource's list query in one place: its filters, what ?search= looks in and what ?ordering=
    may sort by. The viewset hands the last two to DRF's SearchFilter and OrderingFilter."""

    search_fields: ClassVar[list[str]]
    ordering_fields: ClassVar[list[str]]


class CodeFilter(ListFilter):
    """For catalogue entries known by a code (buildings, departments): ?code= or ?code__icontains=."""

    search_fields = ["code", "name"]

    class Meta:
        fields = {"code": ["exact", "icontains"]}


class BuildingFilter(CodeFilter):
    ordering_fields = ["code", "name", "created_at"]

    class Meta(CodeFilter.Meta):
        model = models.Building


class RoomFilter(ListFilter):
    search_fields = ["code", "name", "building__code", "building__name"]
    ordering_fields = ["code", "name", "capacity", "created_at"]

    building_code = filters.CharFilter(field_name="building__code")
    min_capacity = IntegerFilter(field_name="capacity", lookup_expr="gte")

    class Meta:
        model = models.Room
        fields = ["building", "building_code", "min_capacity"]


class DepartmentFilter(CodeFilter):
    ordering_fields = ["code", "name"]

    class Meta(CodeFilter.Meta):
        model = models.Department


class CourseFilter(ListFilter):
    search_fields = ["code", "title", "department__code"]
    ordering_fields = ["code", "title"]

    department_code = filters.CharFilter(field_name="department__code")

    class Meta:
        model = models.Course
        fields = ["department", "department_code"]


class TermFilter(ListFilter):
    search_fields = ["name"]
    ordering_fields = ["name", "start_date", "end_date"]

    current_on = filters.DateFilter(method="filter_current_on")

    class Meta:
        model = models.Term
        fields = ["current_on"]

    def filter_current_on(self, queryset, name, value):
        return queryset.filter(start_date__lte=value, end_date__gte=value)


class SectionFilter(ListFilter):
    search_fields = ["code", "course__code", "course__title", "term__name"]
    ordering_fields = ["code", "course__code", "term__start_date", "created_at"]

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


class StudentFilter(ListFilter):
    search_fields = ["student_number", "first_name", "last_name", "email"]
    ordering_fields = ["student_number", "last_name", "first_name", "created_at"]

    status = filters.ChoiceFilter(choices=StudentStatus.choices)
    section = IntegerFilter(field_name="enrolments__section", distinct=True)
    has_face_consent = BooleanFilter(field_name="face_consent_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = models.Student
        fields = ["status", "section", "has_face_consent"]


class EnrolmentFilter(ListFilter):
    search_fields = ["student__student_number", "student__last_name", "section__course__code"]
    ordering_fields = ["enrolled_on", "left_on", "created_at"]

    current_on = filters.DateFilter(method="filter_current_on")
    term = IntegerFilter(field_name="section__term")

    class Meta:
        model = models.Enrolment
        fields = ["section", "student", "term", "current_on"]

    def filter_current_on(self, queryset, name, value):
        return queryset.current_on(value)


class TeacherFilter(ListFilter):
    search_fields = ["staff_number", "user__username", "user__first_name", "user__last_name"]
    ordering_fields = ["staff_number", "user__last_name"]

    class Meta:
        model = models.Teacher
        fields = ["department"]


class TimetableSlotFilter(ListFilter):
    search_fields = ["room__code", "section__course__code", "section__course__title"]
    ordering_fields = ["weekday", "start_time", "valid_from", "room__code"]

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


class ComplaintFilter(ListFilter):
    search_fields = ["title", "description", "author__username", "room__code"]
    ordering_fields = ["created_at", "updated_at", "priority", "status"]

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


class ComplaintCommentFilter(ListFilter):
    search_fields = ["body"]
    ordering_fields = ["created_at"]

    class Meta:
        model = models.ComplaintComment
        fields = ["complaint", "author"]
