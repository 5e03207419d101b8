"""Admin for cameras and face data. Passwords are write-only, URLs and errors redacted, and
face thumbnails are inlined as small data URIs (face files are never served from a public URL)."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_permissions import (
    RoleModelAdmin,
    RolePermissionsMixin,
    WrittenBySystemMixin,
    admin_page,
    render_admin_page,
)
from accounts.permissions import user_has
from campus.admin import StudentAdmin as CampusStudentAdmin
from campus.models import Student
from config.admin_pagination import HonestCountPaginator
from config.exceptions import DomainError

from . import services
from .choices import UnknownFaceStatus
from .models import Camera, FaceEnrolment, FaceSighting, Frame, UnknownFace
from .redaction import redact

THUMB_SIDE = 96


def thumbnail(field_file, side: int = THUMB_SIDE) -> str:
    """An <img> of at most `side` px from a stored face image, or a dash."""
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
    scale = side / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        return "(unreadable)"
    encoded = base64.b64encode(buffer.tobytes()).decode()
    return format_html('<img src="data:image/jpeg;base64,{}" alt="face" style="max-height:{}px">', encoded, side)


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
class CameraAdmin(RoleModelAdmin):
    view_permission = "view_cameras"
    change_permission = add_permission = delete_permission = "manage_cameras"
    form = CameraAdminForm
    list_display = ["name", "room", "source_kind", "safe_url", "enabled", "status", "last_frame_at",
                    "consecutive_failures"]
    list_filter = ["status", "source_kind", "enabled"]
    list_select_related = ["room"]
    search_fields = ["name", "room__code"]
    autocomplete_fields = ["room", "device"]
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


class FaceEnrolmentInline(RolePermissionsMixin, admin.TabularInline):
    view_permission = "enroll_faces"
    model = FaceEnrolment
    extra = 0
    can_delete = False  # deleting goes through the service (audit, erasure of the last one)
    fields = ["photo_thumbnail", "face_size_px", "sharpness", "created_at", "created_by"]
    readonly_fields = fields
    verbose_name = "enrolled face"

    @admin.display(description="photo")
    def photo_thumbnail(self, obj):
        return thumbnail(obj.photo) if obj.photo else "not kept"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class EnrolFaceForm(forms.Form):
    photo = forms.ImageField(
        help_text="A clear, front-facing photo of this student alone (JPEG or PNG). The photo is checked for "
        "exactly one face, its size and sharpness, and that it is not someone else's."
    )


admin.site.unregister(Student)


@admin.register(Student)
class StudentAdmin(CampusStudentAdmin):
    """The campus student admin with the student's face enrolments inline, enrolment from a photo, and erasure."""

    inlines = [*CampusStudentAdmin.inlines, FaceEnrolmentInline]
    actions = [*CampusStudentAdmin.actions, "erase_face_data"]
    change_form_template = "admin/cameras/student/change_form.html"

    def get_urls(self):
        page = admin_page(self, "<int:pk>/enrol-face/", self.enrol_face_view, name="campus_student_enrol_face",
                          permission="enroll_faces")
        return [page, *super().get_urls()]

    def enrol_face_view(self, request, pk: int):
        """Enrols one photo through `services.enrol_face` (consent, one face, quality, no duplicate)."""
        student = get_object_or_404(Student.objects.visible_to(request.user), pk=pk)
        form = EnrolFaceForm(request.POST or None, request.FILES or None)
        verdict = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["photo"]
            upload.seek(0)
            try:
                enrolment = services.enrol_face(
                    student=student, image_bytes=upload.read(), actor=request.user, request=request, via="admin"
                )
            except DomainError as exc:
                verdict = {"ok": False, "message": exc.message, "reasons": (exc.details or {}).get("reasons", [])}
            else:
                self.message_user(
                    request,
                    f"Enrolled a face for {student.full_name}: {enrolment.face_size_px} px across, "
                    f"sharpness {enrolment.sharpness:.0f}. Good enough to recognise.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:campus_student_change", args=[student.pk]))
        return render_admin_page(self, request, "admin/cameras/student/enrol_face.html",
                                 title=f"Enrol a face for {student.full_name}", student=student, form=form,
                                 verdict=verdict, enrolled=student.face_enrolments.count())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_enrol_faces": user_has(request.user, "enroll_faces")}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    @admin.action(description="Erase all face data (embeddings, photos, crops)")
    def erase_face_data(self, request, queryset):
        if not request.user.has_campus_perm("enroll_faces"):
            self.message_user(request, "You need the enroll_faces permission.", messages.ERROR)
            return
        total = 0
        for student in queryset:
            total += services.erase_biometrics(student=student, actor=request.user, request=request)["enrolments"]
        self.message_user(request, f"Erased {total} enrolment(s) and their files.")


class AssignFaceForm(forms.Form):
    student = forms.ModelChoiceField(queryset=Student.objects.none(), label="This is")

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["student"]
        # The widget first: setting the queryset hands the widget its choices.
        field.widget = AutocompleteSelect(UnknownFace._meta.get_field("assigned_student"), admin.site)
        field.queryset = Student.objects.visible_to(request.user)
        field.help_text = "Type a name or student number. The face is enrolled if the student has consented."


@admin.register(UnknownFace)
class UnknownFaceAdmin(RoleModelAdmin):
    view_permission = change_permission = "review_faces"
    list_display = ["crop_thumbnail", "review_link", "seen_at", "where", "session_seen", "status",
                    "assigned_student"]
    list_display_links = None
    list_filter = ["status", ("seen_at", admin.DateFieldListFilter)]
    list_select_related = ["camera__room", "assigned_student", "sighting__session__section__course"]
    actions = ["dismiss"]
    paginator = HonestCountPaginator

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).defer("embedding_ciphertext")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Unknown faces: who is this?"}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.display(description="face")
    def crop_thumbnail(self, obj):
        return thumbnail(obj.crop)

    @admin.display(description="where")
    def where(self, obj) -> str:
        return f"{obj.camera.room.code}, {obj.camera.name}"

    @admin.display(description="class")
    def session_seen(self, obj) -> str:
        session = obj.sighting.session
        return session.section.full_code if session else "no class running"

    @admin.display(description="")
    def review_link(self, obj) -> str:
        if obj.status != UnknownFaceStatus.PENDING:
            return ""
        return format_html('<a href="{}">Review</a>', reverse("admin:cameras_unknownface_review", args=[obj.pk]))

    def get_urls(self):
        page = admin_page(self, "<int:pk>/review/", self.review_view, name="cameras_unknownface_review",
                          permission="review_faces")
        return [page, *super().get_urls()]

    def review_view(self, request, pk: int):
        """The crop, when and where; "this is student X" (enrols if consented) or dismiss."""
        queryset = UnknownFace.objects.visible_to(request.user).select_related(
            "camera__room", "sighting__session__section__course", "sighting__session__section__term",
            "assigned_student",
        )
        face = get_object_or_404(queryset, pk=pk)
        form = AssignFaceForm(request.POST or None, request=request)
        changelist = reverse("admin:cameras_unknownface_changelist") + "?status__exact=pending"
        if request.method == "POST" and "dismiss" in request.POST:
            services.dismiss_unknown_faces(faces=[face], actor=request.user, request=request)
            self.message_user(request, "Dismissed: the crop and its embedding are deleted.", messages.SUCCESS)
            return HttpResponseRedirect(changelist)
        if request.method == "POST" and form.is_valid():
            student = form.cleaned_data["student"]
            try:
                services.assign_unknown_faces(faces=[face], student=student, actor=request.user, request=request)
            except DomainError as exc:
                self.message_user(request, f"{student.full_name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Assigned to {student.full_name}; the face is enrolled, so the cameras will "
                    "recognise them from now on.", messages.SUCCESS,
                )
                return HttpResponseRedirect(changelist)
        return render_admin_page(self, request, "admin/cameras/unknownface/review.html",
                                 title="Review an unknown face", face=face, crop=thumbnail(face.crop, side=240),
                                 seen_at=timezone.localtime(face.seen_at), form=form, media=self.media + form.media)

    @admin.action(description="Dismiss (delete crop and embedding)", permissions=["change"])
    def dismiss(self, request, queryset):
        count = services.dismiss_unknown_faces(faces=list(queryset), actor=request.user, request=request)
        self.message_user(request, f"Dismissed {count} face(s).")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Frame)
class FrameAdmin(WrittenBySystemMixin, RoleModelAdmin):
    view_permission = "manage_cameras"  # technical: hidden from staff
    list_display = ["id", "camera", "captured_at", "source", "state", "reason", "attempts", "faces_detected"]
    list_filter = ["state", "source"]
    list_select_related = ["camera"]
    readonly_fields = [f.name for f in Frame._meta.fields if f.name != "image"]
    exclude = ["image"]
    paginator = HonestCountPaginator


@admin.register(FaceSighting)
class FaceSightingAdmin(WrittenBySystemMixin, RoleModelAdmin):
    view_permission = "manage_cameras"  # technical: hidden from staff
    list_display = ["id", "seen_at", "camera", "student", "distance", "outcome", "tracked", "visitor",
                    "needs_review"]
    list_filter = ["outcome", "needs_review", "visitor", "tracked"]
    list_select_related = ["camera", "student"]
    raw_id_fields = ["frame", "student", "session", "record"]
    readonly_fields = [f.name for f in FaceSighting._meta.fields]
    paginator = HonestCountPaginator
