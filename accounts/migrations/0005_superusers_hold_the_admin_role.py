"""Superusers made before `createsuperuser` set the role (role "guest", no group) become admins."""

from django.db import migrations


def superusers_to_admin(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Group = apps.get_model("auth", "Group")
    stray = list(User.objects.filter(is_superuser=True).exclude(role="admin"))
    if not stray:
        return
    group, _ = Group.objects.get_or_create(name="admin")  # sync_roles fills its permissions after migrate
    for user in stray:
        user.role = "admin"
        user.is_staff = True
        user.save(update_fields=["role", "is_staff"])
        user.groups.set([group])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_roles_view_all_students_and_review_faces")]

    operations = [migrations.RunPython(superusers_to_admin, migrations.RunPython.noop)]
