"""Small object-store access for files outside Spark (generator output, truth, sensors): a local
folder or an s3:// prefix on any S3-compatible server, through boto3."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

from clicklake.config import S3Settings, is_s3


_clients: dict = {}
_clients_lock = threading.Lock()


def s3_client(s3: S3Settings | None = None):
    """One client per settings, made under a lock: boto3's default session is not thread-safe
    (publish checks tables from several threads), a client once made is."""
    s3 = s3 or S3Settings.from_env()
    with _clients_lock:
        if s3 not in _clients:
            _clients[s3] = _new_client(s3)
        return _clients[s3]


def _new_client(s3: S3Settings):
    import boto3
    from botocore.config import Config

    kwargs = {"region_name": s3.region}
    if s3.endpoint:
        kwargs["endpoint_url"] = s3.endpoint
        kwargs["config"] = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"})
    if s3.access_key and s3.secret_key:
        kwargs["aws_access_key_id"] = s3.access_key
        kwargs["aws_secret_access_key"] = s3.secret_key
    return boto3.client("s3", **kwargs)


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


class LocalLocation:
    def __init__(self, root: str):
        self.root = Path(root)

    def put(self, relative: str, data: bytes) -> None:
        """Write a file; identical content already there is left alone (a re-delivery is a no-op)."""
        target = self.root / relative
        if target.is_file() and target.read_bytes() == data:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)

    def get(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def list(self, relative: str = "") -> list[str]:
        base = self.root / relative
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def sizes(self, relative: str = "") -> dict[str, int]:
        return {key: (self.root / key).stat().st_size for key in self.list(relative)}

    def delete(self, relative: str = "") -> None:
        shutil.rmtree(self.root / relative, ignore_errors=True)


class S3Location:
    def __init__(self, uri: str, s3: S3Settings | None = None):
        self.bucket, self.prefix = split_s3(uri)
        self.client = s3_client(s3)

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def put(self, relative: str, data: bytes) -> None:
        """Upload an object; identical content already there (same MD5 ETag) is left alone."""
        from botocore.exceptions import ClientError

        key = self._key(relative)
        try:
            etag = self.client.head_object(Bucket=self.bucket, Key=key)["ETag"].strip('"')
            if etag == hashlib.md5(data).hexdigest():
                return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, relative: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(relative))["Body"].read()

    def list(self, relative: str = "") -> list[str]:
        return sorted(self.sizes(relative))

    def sizes(self, relative: str = "") -> dict[str, int]:
        """Every object under `relative` with its size in bytes."""
        sizes = {}
        paginator = self.client.get_paginator("list_objects_v2")
        # The whole location is a folder: not the objects of a sibling whose name starts alike.
        start = self._key(relative) if relative or not self.prefix else self.prefix + "/"
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                key = item["Key"]
                sizes[key[len(self.prefix) + 1:] if self.prefix else key] = item["Size"]
        return sizes

    def delete(self, relative: str = "") -> None:
        """Delete every object under the folder `relative` (and none of a sibling sharing its name's start)."""
        self.delete_keys([self._key(key) for key in self.sizes(relative.rstrip("/") + "/" if relative else "")])

    def delete_keys(self, keys: list[str]) -> None:
        for first in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            done = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[first:first + 1000]], "Quiet": True})
            if done.get("Errors"):  # a quiet delete reports only the keys it could not delete
                error = done["Errors"][0]
                raise OSError(f"could not delete s3://{self.bucket}/{error['Key']} ({error.get('Code')}: {error.get('Message')}) "
                              f"and {len(done['Errors']) - 1} more")


def open_location(uri: str, s3: S3Settings | None = None):
    return S3Location(uri, s3) if is_s3(uri) else LocalLocation(uri.removeprefix("file:"))


def copy_files(source: str, target: str, relative_paths: list[str], s3: S3Settings | None = None) -> None:
    """Copy files from one folder to another (both local, or both on one S3 server), keeping their
    relative paths: a local copy is a hard link where it can be, an S3 copy stays on the server."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import unquote

    if is_s3(source) != is_s3(target):
        raise ValueError(f"cannot copy between {source} and {target}: both must be local or both on S3")
    paths = [unquote(p) for p in relative_paths]  # as a Delta log names them: URL-encoded
    if is_s3(source):
        src, dst = S3Location(source, s3), S3Location(target, s3)

        def copy(relative: str) -> None:
            dst.client.copy({"Bucket": src.bucket, "Key": src._key(relative)}, dst.bucket, dst._key(relative))
    else:
        src_root, dst_root = Path(source.removeprefix("file:")), Path(target.removeprefix("file:"))

        def copy(relative: str) -> None:
            target = dst_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # a copy an interrupted run made: made again
            try:
                target.hardlink_to(src_root / relative)
            except OSError:
                shutil.copy2(src_root / relative, target)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(copy, paths))


def delete_files(root: str, relative_paths: list[str], s3: S3Settings | None = None) -> None:
    """Delete these files under `root` (paths as a Delta log names them: URL-encoded); missing ones are no error."""
    from urllib.parse import unquote

    paths = [unquote(p) for p in relative_paths]
    if not is_s3(root):
        for relative in paths:
            (Path(root.removeprefix("file:")) / relative).unlink(missing_ok=True)
        return
    location = S3Location(root, s3)
    location.delete_keys([location._key(p) for p in paths])


def delete_tree(uri: str, s3: S3Settings | None = None) -> None:
    """Delete a folder (local or s3://) and everything under it."""
    open_location(uri, s3).delete()


def ensure_bucket(uri: str, s3: S3Settings | None = None) -> None:
    """Create the bucket of an s3:// URI when it does not exist yet."""
    client = s3_client(s3)
    bucket, _ = split_s3(uri)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass  # created meanwhile: the embedded server creates its buckets while it starts
