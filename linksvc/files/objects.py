"""The protected tree in an S3-compatible bucket (``storage = "s3"``); no Flask.

:class:`ObjectTree` answers everything :class:`~.tree.ProtectedTree` does
(clean paths, files, folders, listings, walks for folder links) from the
objects under ``s3_prefix``, so grants, links, ranges, pins and zips work
on a bucket the way they do on a folder. A path is the object's key under
the prefix, cleaned by the same rules; keys the rules refuse (``..``,
hidden, control or bidi characters, empty segments, a trailing slash) are
never listed and never opened.

An object's version stands where a file's inode does: its stat (see
:func:`object_stat`) carries the ETag in ``st_ino``, on a device number of
its own, so the pin, the HTTP validator and the zip's CRC cache follow the
object's content, and every read asks for that ETag (``If-Match``): a
replaced object is never sent under the planned name.

Each real thread has its own client (a boto3 session is not to be shared
between threads, and under gevent a connection belongs to the thread that
made it); the event loop's greenlets share the loop thread's.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import BinaryIO
from typing import cast

from ..core.errors import FileChanged
from ..core.errors import FileMissing
from ..core.errors import PathRefused
from .offload import native_local
from .offload import offload
from .tree import covers
from .tree import Entry
from .tree import leads_to_grant
from .tree import OBJECT_DEV
from .tree import OpenFile
from .tree import ProtectedTree
from .tree import same_file

#: Keys listed per request (S3's most).
PAGE = 1000
#: Bytes per part of an accepted upload's multipart upload (S3's least is
#: 5 MiB); a smaller file goes up in one PUT.
PART = 8 * 1024 * 1024


def object_stat(size: int, mtime: float, etag: str) -> os.stat_result:
    """A regular file's stat for an object: its size, its time, and its
    ETag (hashed: multipart ETags are not hex) as the inode."""
    ino = int.from_bytes(hashlib.sha256(etag.encode()).digest()[:16], "big")
    ns = int(mtime * 1_000_000_000)
    return os.stat_result(
        (stat.S_IFREG | 0o444, ino, OBJECT_DEV, 1, 0, 0, size)
        + (int(mtime),) * 3
        + (float(mtime),) * 3
        + (ns,) * 3
    )


def _mtime(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


class ObjectFile(OpenFile):
    """An object, looked at (HEAD): nothing is held open; :meth:`reader`
    reads that version of it and no other."""

    def __init__(self, tree: ObjectTree, path: str, key: str, etag: str, st) -> None:
        super().__init__(path, tree.root / path, -1, st, _closed=True)
        self.tree, self.key, self.etag = tree, key, etag

    def reader(self) -> BinaryIO:
        reader = ObjectReader(self.tree, self.key, self.etag, self.st.st_size)
        return cast(BinaryIO, reader)

    def presigned(self, ttl: int, content_type: str, disposition: str) -> str:
        """A GET URL for this version that lives ``ttl`` seconds."""
        return self.tree.client().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.tree.bucket,
                "Key": self.key,
                "IfMatch": self.etag,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
            },
            ExpiresIn=ttl,
        )


class ObjectReader(io.RawIOBase):
    """A seekable reader of one version of an object: a read from where the
    last one ended goes on with the same GET; any other position starts a
    ranged GET there. A replaced object fails the read (OSError): the
    client sees a short body, a zip stops, as with a file that changed."""

    def __init__(self, tree: ObjectTree, key: str, etag: str, size: int) -> None:
        self.tree, self.key, self.etag, self.size = tree, key, etag, size
        self._pos = 0
        self._body: Any = None
        self._body_at = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if self._pos >= self.size:
            return b""
        if self._body is None or self._body_at != self._pos:
            self._drop()
            self._body = self.tree.get(self.key, self.etag, self._pos)
            self._body_at = self._pos
        want = self.size - self._pos if size is None or size < 0 else size
        data = self._body.read(want)
        self._pos += len(data)
        self._body_at = self._pos
        return data

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._drop()
        super().close()


class ObjectTree(ProtectedTree):
    """The tree's rules over the objects of ``bucket`` under ``prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        make_client: Callable[[], Any],
        limit: int = 100_000,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        #: Where paths are, as the rest of linksvc sees them: never a folder
        #: on this machine, only the base that relative() takes away.
        self.root = Path("/", "s3", bucket, *([self.prefix] if self.prefix else []))
        self._make_client = make_client
        self._local = native_local()
        self._limit = limit

    # -- the bucket ---------------------------------------------------------

    def client(self) -> Any:
        """This thread's client."""
        made = getattr(self._local, "client", None)
        if made is None:
            made = self._local.client = self._make_client()
        return made

    def key(self, clean: str) -> str:
        if self.prefix and clean:
            return f"{self.prefix}/{clean}"
        return self.prefix or clean

    def get(self, key: str, etag: str, start: int) -> Any:
        """The body of that version of ``key`` from ``start`` (a stream)."""
        from botocore.exceptions import ClientError

        try:
            return self.client().get_object(
                Bucket=self.bucket, Key=key, IfMatch=etag, Range=f"bytes={start}-"
            )["Body"]
        except ClientError as exc:
            raise OSError(f"{key} changed or went away: {_code(exc)}") from None

    def receive(
        self, quarantine: Any, upload_id: str, folder: str, real: Path, name: str
    ) -> str:
        """Copy an accepted upload into the bucket under a free name: each
        write is conditional (``If-None-Match: *``), so it never replaces an
        object, even one written meanwhile by someone else; big files go up
        in parts (a multipart upload). On a real thread."""
        used = offload(self._receive, quarantine.path_of(upload_id), folder, name)
        quarantine.delete(upload_id)
        return used

    def _receive(self, source: Path, folder: str, name: str) -> str:
        from botocore.exceptions import ClientError

        from .quarantine import numbered

        for n in range(1, 1000):
            used = numbered(name, n)
            key = self.key(f"{folder}/{used}" if folder else used)
            try:
                self._put_new(source, key)
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    continue
                raise OSError(f"could not store {used!r}: {_code(exc)}") from None
            return used
        raise FileExistsError(f"{name!r} and 999 numbered names are taken.")

    def _put_new(self, source: Path, key: str) -> None:
        client, size = self.client(), source.stat().st_size
        if size <= PART:
            with open(source, "rb") as fh:
                client.put_object(Bucket=self.bucket, Key=key, Body=fh, IfNoneMatch="*")
            return
        started = client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = started["UploadId"]
        try:
            parts = []
            with open(source, "rb") as fh:
                number = 1
                while block := fh.read(PART):
                    sent = client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=block,
                    )
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
                    number += 1
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            raise

    def ready(self) -> bool | str:
        from botocore.exceptions import BotoCoreError
        from botocore.exceptions import ClientError

        try:
            self.client().head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            return f"bucket not reachable: {type(exc).__name__}"
        return True

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        paginator = self.client().get_paginator("list_objects_v2")
        yield from paginator.paginate(**params, PaginationConfig={"PageSize": PAGE})

    def _folder_pages(self, clean: str, delimiter: str | None) -> Iterator[dict]:
        """The listing pages of the folder ``clean``; FileMissing (once the
        pages are read) when it holds no object: the listing itself says
        whether the folder exists, no look of its own first."""
        seen = not clean
        for page in self._pages(self._below(clean), delimiter):
            seen = seen or bool(page.get("KeyCount"))
            yield page
        if not seen:
            raise FileMissing(f"There is no folder at {clean!r}.")

    def _below(self, clean: str) -> str:
        """The key prefix of what is inside the folder ``clean``."""
        key = self.key(clean)
        return f"{key}/" if key else ""

    # -- what ProtectedTree answers ---------------------------------------

    def resolve(self, relpath: str) -> tuple[str, Path]:
        clean = self.clean(relpath)  # a bucket has no symlinks
        return clean, self.root / clean if clean else self.root

    def relative(self, real: Path) -> str:
        return "" if real == self.root else str(real.relative_to(self.root))

    def open(self, relpath: str) -> ObjectFile:
        from botocore.exceptions import ClientError

        clean = self.clean(relpath)
        if not clean:
            raise FileMissing("There is no file at '' (it is not a file).")
        key = self.key(clean)
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            raise FileMissing(f"There is no file at {clean!r}.") from None
        etag = head["ETag"]
        st = object_stat(head["ContentLength"], _mtime(head["LastModified"]), etag)
        return ObjectFile(self, clean, key, etag, st)

    def open_real(self, real: Path, expect: os.stat_result | None = None) -> OpenFile:
        try:
            opened = self.open(self.relative(real))
        except (PathRefused, ValueError):
            raise FileMissing(f"There is no file at {real.name!r}.") from None
        if expect is not None and not same_file(opened.st, expect):
            raise FileChanged(f"{real.name!r} changed after it was listed.")
        return opened

    def open_member(self, folder: str, rel: str) -> OpenFile:
        return self.open(f"{folder}/{rel}" if folder else rel)

    def folder(self, relpath: str) -> tuple[str, Path]:
        clean, real = self.resolve(relpath)
        if clean:
            found = self.client().list_objects_v2(
                Bucket=self.bucket, Prefix=self._below(clean), MaxKeys=1
            )
            if not found.get("KeyCount"):
                raise FileMissing(f"There is no folder at {clean!r}.")
        return clean, real

    def files_under(
        self,
        relpath: str,
        grants: list[str],
        limit: int = 100_000,
        seconds: float | None = None,
    ) -> list[tuple[str, Path, os.stat_result]]:
        clean, _ = self.resolve(relpath)
        below = self._below(clean)
        deadline = None if seconds is None else time.monotonic() + seconds
        found: list[tuple[str, Path, os.stat_result]] = []
        for page in self._folder_pages(clean, None):
            if deadline is not None and time.monotonic() > deadline:
                raise PathRefused(f"The folder {clean!r} is too big to list in time.")
            for item in page.get("Contents", ()):
                name = item["Key"][len(below) :]
                path = self._path_of(item["Key"])
                if path is None or not name:
                    continue
                when = _mtime(item["LastModified"])
                st = object_stat(item["Size"], when, item["ETag"])
                found.append((name, self.root / path, st))
                if len(found) > limit:
                    raise PathRefused(
                        f"The folder {clean!r} holds more than {limit} files."
                    )
        return sorted(found, key=lambda item: item[0])

    def listing(self, relpath: str, grants: list[str]) -> list[Entry]:
        clean, _ = self.resolve(relpath)
        entries: list[Entry] = []
        for page in self._folder_pages(clean, "/"):
            for common in page.get("CommonPrefixes", ()):
                path = self._path_of(common["Prefix"].rstrip("/"))
                if path is None or not (
                    covers(grants, path) or leads_to_grant(grants, path)
                ):
                    continue
                entries.append(Entry(path.rsplit("/", 1)[-1], path, True, 0, 0.0))
            for item in page.get("Contents", ()):
                path = self._path_of(item["Key"])
                if path is None or not covers(grants, path):
                    continue
                mtime = _mtime(item["LastModified"])
                name = path.rsplit("/", 1)[-1]
                entries.append(Entry(name, path, False, item["Size"], mtime))
            if len(entries) > self._limit:
                raise PathRefused(f"The folder {clean!r} holds too many entries.")
        entries.sort(key=lambda e: (not e.is_dir, e.name.casefold()))
        return entries

    def _path_of(self, key: str) -> str | None:
        """The clean path of ``key``, or None for a key the rules refuse (a
        trailing slash, ``..``, a hidden name …): it is never listed."""
        if self.prefix:
            if not key.startswith(self.prefix + "/"):
                return None
            key = key[len(self.prefix) + 1 :]
        if not key or key.endswith("/"):
            return None
        try:
            clean = self.clean(key)
        except PathRefused:
            return None
        return clean if clean == key else None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def s3_client_maker(
    endpoint_url: str | None, region: str | None, addressing_style: str
) -> Callable[[], Any]:
    """What makes one thread's S3 client: credentials come from boto3's own
    chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a credentials file
    named by ``AWS_SHARED_CREDENTIALS_FILE``, an instance role), never from
    settings.toml."""

    def make() -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(
                s3={"addressing_style": addressing_style},
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                signature_version="s3v4",
            ),
        )

    return make
