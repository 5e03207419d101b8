# Stream URL query strings move out of `url` into an encrypted column (they carry passwords).

from django.db import migrations, models


def encrypt_queries(apps, schema_editor):
    from cameras.biometrics import encrypt_text
    from cameras.redaction import split_query

    Camera = apps.get_model("cameras", "Camera")
    for camera in Camera.objects.filter(url__contains="?"):
        camera.url, query = split_query(camera.url)
        camera.url_query_ciphertext = encrypt_text(query) if query else None
        camera.save(update_fields=["url", "url_query_ciphertext"])


def decrypt_queries(apps, schema_editor):
    from cameras.biometrics import decrypt_text
    from cameras.redaction import with_query

    Camera = apps.get_model("cameras", "Camera")
    for camera in Camera.objects.filter(url_query_ciphertext__isnull=False):
        camera.url = with_query(camera.url, decrypt_text(camera.url_query_ciphertext))
        camera.save(update_fields=["url"])


class Migration(migrations.Migration):

    dependencies = [
        ("cameras", "0003_sighting_list_page_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="camera",
            name="url_query_ciphertext",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_queries, decrypt_queries),
    ]
