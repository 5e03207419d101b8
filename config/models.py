from django.db import models


class TimeStampedModel(models.Model):
    """created_at / updated_at for every table that people edit."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class StoredFile(models.Model):
    """A file kept in the database by `config.storage.DatabaseStorage`: frame bytes, face crops,
    enrolment photos and bundles, reachable by web and every worker wherever they run."""

    name = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    modified_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StoredFileChunk(models.Model):
    """A piece of a stored file: no single value grows with the file (a 200 MB bundle is 200 rows)."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["file_id", "index"]
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="config_storedfilechunk_unique_index")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.file_id}"
