"""Campus admin: every model, with the import form on the models that can be imported.

Writes that carry a rule (timetable overlap, complaint moves, face consent)
go through `campus.services`, as they do from the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.urls import reverse

from accounts.admin_permissions import RolePermissionsMixin, admin_page, render_admin_page
from accounts.choices import Role
from accounts.models import User
from accounts.permissions import user_has
from config.admin_lists import YesNoFilter, count_column
from config.exceptions import DomainError

from . import models, services
from .choices import ComplaintStatus, StudentStatus
from .imports import IMPORT_SPECS, run_import


class ImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with a header row.")
    skip_invalid = forms.BooleanField(required=False, help_text="Import the good rows even if some rows are bad.")
    dry_run = forms.BooleanField(required=False, help_text="Check the file and report; write nothing.")


class CampusPermissions(RolePermissionsMixin):
    """The catalogue and timetable: anyone with view_campus reads them, manage_campus edits them."""

    view_permission = "view_campus"
    change_permission = add_permission = delete_permission = "manage_campus"


class StudentPermissions(RolePermissionsMixin):
    """Students and their enrolments: view_students reads them, manage_students edits them."""

    view_permission = "view_students"
    change_permission = add_permission = delete_permission = "manage_students"


class CampusModelAdmin(CampusPermissions, admin.ModelAdmin):
    """An admin for the campus models, under the campus permissions unless it mixes in others."""


class ImportableAdmin(CampusModelAdmin):
    """Adds an "Import CSV" page that calls `campus.imports.run_import`, like the command."""

    import_kind: str = ""
    change_list_template = "admin/campus/change_list_with_import.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        permission = IMPORT_SPECS[self.import_kind].permission
        extra = [admin_page(self, "import/", self.import_view, name=name, permission=permission)]
        return extra + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        spec = IMPORT_SPECS[self.import_kind]
        url = self._import_url() if user_has(request.user, spec.permission) else None
        extra_context = {**(extra_context or {}), "import_url": url}
        return super().changelist_view(request, extra_context=extra_context)

    def _import_url(self) -> str:
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import")

    def import_view(self, request):
        spec = IMPORT_SPECS[self.import_kind]
        result = None
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = run_import(
                kind=self.import_kind,
                source=form.cleaned_data["file"],
                skip_invalid=form.cleaned_data["skip_invalid"],
                dry_run=form.cleaned_data["dry_run"],
                actor=request.user,
            )
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, result.summary(), level)
        return render_admin_page(self, request, "admin/campus/import.html",
                                 title=f"Import {self.import_kind} from CSV", form=form, result=result,
                                 required_columns=spec.required, optional_columns=spec.optional)


class CountingAdmin(ImportableAdmin):
    """Lists how many related rows each entry has. `counted` is (annotation, related name, column heading): the
    list's one query annotates the Count under `annotation`, and `annotation` is a sortable column to list."""

    counted: tuple[str, str, str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        annotation, _related, heading = cls.counted
        setattr(cls, annotation, count_column(annotation, heading))

    def get_queryset(self, request):
        annotation, related, _heading = self.counted
        return super().get_queryset(request).annotate(**{annotation: Count(related)})


@admin.register(models.Building)
class BuildingAdmin(CountingAdmin):
    import_kind = "buildings"
    counted = ("room_count", "rooms", "rooms")
    list_display = ["code", "name", "room_count", "updated_at"]
    search_fields = ["code", "name"]


@admin.register(models.Room)
class RoomAdmin(ImportableAdmin):
    import_kind = "rooms"
    list_display = ["code", "name", "building", "capacity"]
    list_filter = ["building"]
    list_select_related = ["building"]
    search_fields = ["code", "name", "building__code", "building__name"]
    autocomplete_fields = ["building"]


@admin.register(models.Department)
class DepartmentAdmin(CountingAdmin):
    import_kind = "departments"
    counted = ("course_count", "courses", "courses")
    list_display = ["code", "name", "course_count"]
    search_fields = ["code", "name"]


@admin.register(models.Course)
class CourseAdmin(ImportableAdmin):
    import_kind = "courses"
    list_display = ["code", "title", "department"]
    list_filter = ["department"]
    list_select_related = ["department"]
    search_fields = ["code", "title"]
    autocomplete_fields = ["department"]


@admin.register(models.Term)
class TermAdmin(ImportableAdmin):
    import_kind = "terms"
    list_display = ["name", "start_date", "end_date"]
    search_fields = ["name"]
    date_hierarchy = "start_date"


class EnrolmentInline(StudentPermissions, admin.TabularInline):
    model = models.Enrolment
    extra = 0
    autocomplete_fields = ["student"]
    fields = ["student", "enrolled_on", "left_on"]
    show_change_link = True


class TimetableSlotInline(CampusPermissions, admin.TabularInline):
    model = models.TimetableSlot
    extra = 0
    autocomplete_fields = ["room"]
    fields = ["weekday", "start_time", "end_time", "room", "valid_from", "valid_until"]


class TimetableSlotAdminForm(forms.ModelForm):
    """Runs the overlap rule of `save_timetable_slot` as form validation."""

    class Meta:
        model = models.TimetableSlot
        fields = ["section", "room", "weekday", "start_time", "end_time", "valid_from", "valid_until"]

    def clean(self):
        cleaned = super().clean()
        needed = ("section", "room", "weekday", "start_time", "end_time", "valid_from")
        if all(cleaned.get(name) is not None for name in needed) and cleaned["end_time"] > cleaned["start_time"]:
            clashes = services.overlapping_slots(
                room_id=cleaned["room"].pk,
                section_id=cleaned["section"].pk,
                weekday=cleaned["weekday"],
                start_time=cleaned["start_time"],
                end_time=cleaned["end_time"],
                valid_from=cleaned["valid_from"],
                valid_until=cleaned.get("valid_until"),
                exclude_pk=self.instance.pk,
            )
            if clashes.exists():
                raise ValidationError(
                    "Overlaps %(slots)s.", params={"slots": ", ".join(str(slot) for slot in clashes[:5])}
                )
        return cleaned


# Inline slots get the same rule as the slot form.
TimetableSlotInline.form = TimetableSlotAdminForm


@admin.register(models.Section)
class SectionAdmin(CountingAdmin):
    import_kind = "sections"
    counted = ("student_count", "enrolments", "students")
    list_display = ["__str__", "course", "term", "code", "student_count"]
    list_filter = ["term", "course__department"]
    list_select_related = ["course", "term"]
    search_fields = ["code", "course__code", "course__title", "term__name"]
    autocomplete_fields = ["course", "term", "teachers"]
    inlines = [EnrolmentInline, TimetableSlotInline]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "teachers":
            kwargs["queryset"] = User.objects.filter(role__in=[Role.STAFF, Role.ADMIN], is_active=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class FaceConsentFilter(YesNoFilter):
    title = "face-recognition consent"
    parameter_name = "consent"
    yes_label, no_label = "Consent recorded", "No consent"

    def condition(self) -> Q:
        return Q(face_consent_at__isnull=False)


@admin.register(models.Student)
class StudentAdmin(StudentPermissions, ImportableAdmin):
    import_kind = "students"
    list_display = ["student_number", "full_name", "status", "has_face_consent", "user"]
    list_display_links = ["student_number", "full_name"]
    list_filter = ["status", FaceConsentFilter]
    list_select_related = ["user"]
    fields = ["student_number", "first_name", "last_name", "email", "user", "status", "face_consent_at",
              "face_consent_recorded_by"]
    search_fields = ["student_number", "first_name", "last_name", "email"]
    autocomplete_fields = ["user"]
    readonly_fields = ["face_consent_at", "face_consent_recorded_by", "created_at", "updated_at"]
    actions = ["mark_inactive", "mark_graduated", "record_consent", "withdraw_consent"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(boolean=True, description="face consent")
    def has_face_consent(self, obj):
        return obj.has_face_consent

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj) -> str:
        return f"{obj.last_name}, {obj.first_name}"

    def _set_status(self, request, queryset, status):
        updated = queryset.update(status=status)
        self.message_user(request, f"{updated} student(s) marked {status}.")

    @admin.action(description="Mark selected students inactive", permissions=["change"])
    def mark_inactive(self, request, queryset):
        self._set_status(request, queryset, StudentStatus.INACTIVE)

    @admin.action(description="Mark selected students graduated", permissions=["change"])
    def mark_graduated(self, request, queryset):
        self._set_status(request, queryset, StudentStatus.GRADUATED)

    @admin.action(description="Record face-recognition consent", permissions=["change"])
    def record_consent(self, request, queryset):
        for student in queryset:
            services.record_face_consent(student=student, given=True, actor=request.user, request=request)
        self.message_user(request, f"Consent recorded for {queryset.count()} student(s).")

    @admin.action(description="Withdraw face-recognition consent", permissions=["change"])
    def withdraw_consent(self, request, queryset):
        for student in queryset:
            services.record_face_consent(student=student, given=False, actor=request.user, request=request)
        self.message_user(request, f"Consent withdrawn for {queryset.count()} student(s).")


@admin.register(models.Enrolment)
class EnrolmentAdmin(StudentPermissions, ImportableAdmin):
    import_kind = "enrolments"
    list_display = ["student", "section", "enrolled_on", "left_on"]
    list_filter = ["section__term", ("left_on", admin.EmptyFieldListFilter)]
    list_select_related = ["student", "section__course", "section__term"]
    search_fields = ["student__student_number", "student__last_name", "section__course__code"]
    autocomplete_fields = ["student", "section"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)


@admin.register(models.Teacher)
class TeacherAdmin(ImportableAdmin):
    import_kind = "teachers"
    list_display = ["staff_number", "user", "department"]
    list_filter = ["department"]
    list_select_related = ["user", "department"]
    search_fields = ["staff_number", "user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user", "department"]


@admin.register(models.TimetableSlot)
class TimetableSlotAdmin(ImportableAdmin):
    import_kind = "timetable"
    form = TimetableSlotAdminForm
    list_display = ["section", "weekday", "start_time", "end_time", "room", "valid_from", "valid_until"]
    list_filter = ["weekday", "room__building", "section__term"]
    list_select_related = ["section__course", "section__term", "room"]
    search_fields = ["section__course__code", "room__code"]
    autocomplete_fields = ["section", "room"]

    def save_model(self, request, obj, form, change):
        try:
            services.save_timetable_slot(slot=obj, actor=request.user, request=request)
        except DomainError as exc:  # a race after the form's check; report it, do not 500
            self.message_user(request, exc.message, messages.ERROR)


class ComplaintCommentInline(RolePermissionsMixin, admin.TabularInline):
    """Comments are added by the signed-in person, through the same service as the API."""

    view_permission = add_permission = "handle_complaints"
    model = models.ComplaintComment
    extra = 1
    fields = ["author", "body", "created_at"]
    readonly_fields = ["author", "created_at"]


@admin.register(models.Complaint)
class ComplaintAdmin(RolePermissionsMixin, admin.ModelAdmin):
    view_permission = change_permission = "handle_complaints"
    list_display = ["id", "title", "category", "priority", "status", "author", "assignee", "room", "created_at"]
    list_filter = ["status", "category", "priority", "room__building"]
    list_select_related = ["author", "assignee", "room"]
    search_fields = ["title", "description", "author__username"]
    autocomplete_fields = ["author", "assignee", "room"]
    # Status moves only through the actions below, which apply the state machine.
    readonly_fields = ["status", "resolved_at", "created_at", "updated_at"]
    inlines = [ComplaintCommentInline]
    actions = ["start_work", "resolve", "reject", "assign_to_me"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # what the author wrote stays as written
            return [*self.readonly_fields, "author", "category", "title", "description"]
        return self.readonly_fields

    def save_formset(self, request, form, formset, change):
        if formset.model is not models.ComplaintComment:
            return super().save_formset(request, form, formset, change)
        # The admin's change message reads these, as if formset.save() had run.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for comment_form in formset.forms:
            if comment_form.instance.pk is None and comment_form.has_changed() and comment_form.cleaned_data:
                try:
                    comment = services.add_complaint_comment(
                        complaint=form.instance, author=request.user, body=comment_form.cleaned_data["body"],
                        request=request,
                    )
                except DomainError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    formset.new_objects.append(comment)

    def _move(self, request, queryset, to_status):
        moved, refused = 0, []
        for complaint in queryset:
            try:
                services.change_complaint_status(
                    complaint=complaint, to_status=to_status, actor=request.user, request=request
                )
                moved += 1
            except DomainError as exc:
                refused.append(f"#{complaint.pk}: {exc.message}")
        if moved:
            self.message_user(request, f"{moved} complaint(s) moved to {to_status}.")
        if refused:
            self.message_user(request, " ".join(refused), messages.WARNING)

    @admin.action(description="Start work (in progress)")
    def start_work(self, request, queryset):
        self._move(request, queryset, ComplaintStatus.IN_PROGRESS)

    @admin.action(description="Resolve")
    def resolve(self, request, queryset):
        self._move(request, queryset, ComplaintStatus.RESOLVED)

    @admin.action(description="Reject")
    def reject(self, request, queryset):
        self._move(request, queryset, ComplaintStatus.REJECTED)

    @admin.action(description="Assign to me")
    def assign_to_me(self, request, queryset):
        done = 0
        for complaint in queryset:
            try:
                services.assign_complaint(complaint=complaint, assignee=request.user, actor=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{complaint.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} complaint(s) assigned to you.")


@admin.register(models.ComplaintComment)
class ComplaintCommentAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Superusers only: staff see and add comments on the complaint's own page."""

    list_display = ["id", "complaint", "author", "created_at"]
    list_select_related = ["complaint", "author"]
    search_fields = ["body", "complaint__title"]
    autocomplete_fields = ["complaint", "author"]
    readonly_fields = ["created_at"]
