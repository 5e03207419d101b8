"""Admin for cameras and face data. Passwords are write-only, URLs and errors redacted, and
face thumbnails are inlined as small data URIs (face files are never served from a public URL)."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html

from campus.admin import StudentAdmin as CampusStudentAdmin
from campus.models import Student

from . import services
from .models import Camera, FaceEnrolment, FaceSighting, Frame, UnknownFace
from .redaction import redact

THUMB_SIDE = 96


def thumbnail(field_file) -> str:
    """An <img> of at most 96 px from a stored face image, or a dash."""
    if not field_file:
        return "—"
    try:
        with field_file.open("rb") as handle:
            data = np.frombuffer(handle.read(), dtype=np.uint8)
    except OSError:
        return "(file missing)"
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        return "(unreadable)"
    scale = THUMB_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        return "(unreadable)"
    encoded = base64.b64encode(buffer.tobytes()).decode()
    return format_html('<img src="data:image/jpeg;base64,{}" alt="face" style="max-height:96px">', encoded)


class NoCountPaginator(Paginator):
    """Huge tables: no COUNT(*) over the whole table for every page."""

    @cached_property
    def count(self) -> int:
        return 10_000_000


class CameraAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False)

    class Meta:
        model = Camera
        fields = ["name", "room", "source_kind", "url", "username", "sample_interval_seconds", "detect_max_side",
                  "enabled", "device"]


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    form = CameraAdminForm
    list_display = ["name", "room", "source_kind", "safe_url", "enabled", "status", "last_frame_at",
                    "consecutive_failures"]
    list_filter = ["status", "source_kind", "enabled"]
    list_select_related = ["room"]
    search_fields = ["name", "room__code"]
    raw_id_fields = ["room", "device"]
    readonly_fields = ["status", "status_changed_at", "safe_last_error", "last_frame_at", "consecutive_failures",
                       "next_poll_at", "password_stored", "created_at", "updated_at"]

    @admin.display(description="URL")
    def safe_url(self, obj):
        return redact(obj.url)

    @admin.display(description="last error")
    def safe_last_error(self, obj):
        return redact(obj.last_error, obj.username)

    @admin.display(boolean=True, description="password stored")
    def password_stored(self, obj):
        return obj.has_password

    def save_model(self, request, obj, form, change):
        # The admin subclasses the form with every field in its Meta; only ours are editable.
        data = {name: form.cleaned_data[name] for name in CameraAdminForm.Meta.fields}
        password = form.cleaned_data.get("new_password") or None
        if form.cleaned_data.get("clear_password"):
            password = ""
        if change:
            camera = Camera.objects.get(pk=obj.pk)
            saved = services.update_camera(camera=camera, actor=request.user, request=request, password=password,
                                           **data)
        else:
            saved = services.create_camera(actor=request.user, request=request, password=password, **data)
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})


class FaceEnrolmentInline(admin.TabularInline):
    model = FaceEnrolment
    extra = 0
    can_delete = False  # deleting goes through the service (audit, erasure of the last one)
    fields = ["photo_thumbnail", "engine_name", "engine_version", "face_size_px", "sharpness", "created_at"]
    readonly_fields = fields

    @admin.display(description="photo")
    def photo_thumbnail(self, obj):
        return thumbnail(obj.photo) if obj.photo else "not kept"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(Student)


@admin.register(Student)
class StudentAdmin(CampusStudentAdmin):
    """The campus student admin with the student's face enrolments inline, and erasure as an action."""

    inlines = [*CampusStudentAdmin.inlines, FaceEnrolmentInline]
    actions = [*CampusStudentAdmin.actions, "erase_face_data"]

    @admin.action(description="Erase all face data (embeddings, photos, crops)")
    def erase_face_data(self, request, queryset):
        if not request.user.has_campus_perm("enroll_faces"):
            self.message_user(request, "You need the enroll_faces permission.", messages.ERROR)
            return
        total = 0
        for student in queryset:
            total += services.erase_biometrics(student=student, actor=request.user, request=request)["enrolments"]
        self.message_user(request, f"Erased {total} enrolment(s) and their files.")


@admin.register(UnknownFace)
class UnknownFaceAdmin(admin.ModelAdmin):
    list_display = ["id", "crop_thumbnail", "camera", "seen_at", "group", "status", "assigned_student"]
    list_filter = ["status"]
    list_select_related = ["camera", "group", "assigned_student"]
    raw_id_fields = ["assigned_student"]
    readonly_fields = ["crop_thumbnail", "sighting", "camera", "seen_at", "group", "status", "assigned_student",
                       "resolved_by", "resolved_at", "engine_name", "engine_version"]
    exclude = ["crop"]
    actions = ["dismiss"]
    show_full_result_count = False

    @admin.display(description="crop")
    def crop_thumbnail(self, obj):
        return thumbnail(obj.crop)

    @admin.action(description="Dismiss (delete crop and embedding)")
    def dismiss(self, request, queryset):
        count = services.dismiss_unknown_faces(faces=list(queryset), actor=request.user, request=request)
        self.message_user(request, f"Dismissed {count} face(s).")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Frame)
class FrameAdmin(admin.ModelAdmin):
    list_display = ["id", "camera", "captured_at", "source", "state", "reason", "attempts", "faces_detected"]
    list_filter = ["state", "source"]
    list_select_related = ["camera"]
    readonly_fields = [f.name for f in Frame._meta.fields if f.name != "image"]
    exclude = ["image"]
    show_full_result_count = False
    paginator = NoCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FaceSighting)
class FaceSightingAdmin(admin.ModelAdmin):
    list_display = ["id", "seen_at", "camera", "student", "distance", "outcome", "tracked", "visitor",
                    "needs_review"]
    list_filter = ["outcome", "needs_review", "visitor", "tracked"]
    list_select_related = ["camera", "student"]
    raw_id_fields = ["frame", "student", "session", "record"]
    readonly_fields = [f.name for f in FaceSighting._meta.fields]
    show_full_result_count = False
    paginator = NoCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
