"""An S3 prefix through boto3 (MWAA reads its DAGs from one). Credentials, region and endpoint
come from boto3's usual environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, an instance role,
AWS_ENDPOINT_URL...); errors name the bucket and what S3 said, never a credential."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tidegate.errors import ConfigError, ShipError


class S3Store:
    def __init__(self, bucket: str, prefix: str) -> None:
        try:
            import boto3
        except ImportError:
            raise ConfigError("shipping DAGs to S3 needs boto3", hint="pip install 'tidegate[s3]'") from None
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        with self._errors("connect"):
            self.client: Any = boto3.client("s3")

    def list(self) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._errors("list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][len(self.prefix) :]] = int(item["Size"])
        return found

    def get(self, name: str) -> bytes | None:
        with self._errors(f"read {name}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"]
            except self.client.exceptions.NoSuchKey:
                return None
            data: bytes = body.read()
            return data

    def put(self, name: str, data: bytes) -> None:
        with self._errors(f"upload {name}"):
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def delete(self, name: str) -> None:
        with self._errors(f"remove {name}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """boto3's errors as a `ShipError`: its code and message (which hold no credential)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            detail = error.response.get("Error", {})
            code, message = detail.get("Code", "error"), detail.get("Message", "")
            raise ShipError(f"{self.url}: could not {doing}: {message or code} ({code})") from None
        except BotoCoreError as error:
            raise ShipError(
                f"{self.url}: could not {doing}: {error}",
                hint="credentials and region come from boto3's environment (AWS_PROFILE, AWS_ACCESS_KEY_ID...)",
            ) from None
