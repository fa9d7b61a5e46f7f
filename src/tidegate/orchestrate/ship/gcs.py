"""A Cloud Storage prefix through google-cloud-storage (Cloud Composer reads its DAGs from one).
Credentials come from the client's usual environment (GOOGLE_APPLICATION_CREDENTIALS, the
metadata server, STORAGE_EMULATOR_HOST for an emulator); errors name the bucket and what Cloud
Storage said, never a credential."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from tidegate.errors import ConfigError, ShipError


class GcsStore:
    def __init__(self, bucket: str, prefix: str) -> None:
        try:
            from google.cloud import storage
        except ImportError:
            raise ConfigError(
                "shipping DAGs to Cloud Storage needs google-cloud-storage",
                hint="pip install 'tidegate[gcs]'",
            ) from None
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.url = f"gs://{bucket}/{self.prefix}".rstrip("/")
        with self._errors("connect"):
            self.client: Any = storage.Client()
            self.bucket: Any = self.client.bucket(bucket)

    def list(self) -> dict[str, int]:
        with self._errors("list"):
            return {
                blob.name[len(self.prefix) :]: int(blob.size or 0)
                for blob in self.client.list_blobs(self.bucket, prefix=self.prefix)
            }

    def get(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        with self._errors(f"read {name}"):
            try:
                data: bytes = self.bucket.blob(self.prefix + name).download_as_bytes()
            except NotFound:
                return None
            return data

    def put(self, name: str, data: bytes) -> None:
        with self._errors(f"upload {name}"):
            self.bucket.blob(self.prefix + name).upload_from_string(data)

    def delete(self, name: str) -> None:
        from google.api_core.exceptions import NotFound

        with self._errors(f"remove {name}"), suppress(NotFound):
            self.bucket.blob(self.prefix + name).delete()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except GoogleAPIError as error:
            raise ShipError(f"{self.url}: could not {doing}: {getattr(error, 'message', error)}") from None
        except (GoogleAuthError, OSError) as error:
            raise ShipError(
                f"{self.url}: could not {doing}: {error}",
                hint="credentials come from the client's environment (GOOGLE_APPLICATION_CREDENTIALS...)",
            ) from None
