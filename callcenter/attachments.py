"""File attachments: what a chat accepts, decided from the bytes (never from what the client says).

An upload is kept in the store (so every worker can serve it) and then sent as part of a message:
the message carries each file's metadata (`attachment_meta`), and the file itself is fetched with
the same bearer token that reads the conversation. Only kinds that a browser cannot run are
accepted: raster images (shown inline), PDF, plain text and CSV, and the common office and zip
formats (always downloaded, never opened in the page). SVG, HTML and everything else get 415.
"""
from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse

from .errors import ApiError, InvalidInput, PayloadTooLarge

MAX_ATTACHMENTS_PER_MESSAGE = 10
ATTACHMENT_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_FILENAME_CHARS = 200
# Kept in the session row's preview for a message that is only files.
PREVIEW_PREFIX = "📎 "

# Magic numbers of the image formats shown inline, and of PDF.
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_ZIP_TYPES = {
    ".zip": "application/zip",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
}
_TEXT_TYPES = {".txt": "text/plain", ".log": "text/plain", ".md": "text/plain", ".csv": "text/csv"}
# Every content type a download can have (the OpenAPI document lists them).
CONTENT_TYPES = tuple(dict.fromkeys(
    [t for _, t in _IMAGE_SIGNATURES] + ["image/webp", "application/pdf"] + list(_ZIP_TYPES.values())
    + list(_TEXT_TYPES.values())))
ACCEPTED_DESCRIPTION = "images (PNG, JPEG, GIF, WebP), PDF, text (.txt, .csv, .log, .md), office documents and .zip"
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UnsupportedFileType(ApiError):
    status = 415
    code = "unsupported_file_type"


def file_too_large(max_bytes: int) -> PayloadTooLarge:
    """The one answer to a file over the limit, wherever that is found out."""
    return PayloadTooLarge(f"files may be at most {max_bytes} bytes", code="file_too_large")


# The HTML form encoding of a multipart filename (WHATWG, what browsers send): a double quote and the
# line breaks are percent-encoded there, and nothing else is (a literal "%22" is sent as it is).
_FORM_FILENAME_ESCAPES = {"%22": '"', "%0A": "\n", "%0D": "\r"}


def form_filename(raw: str | None) -> str:
    """The filename of a multipart/form-data part with the form encoding's escapes undone."""
    if not raw or "%" not in raw:
        return raw or ""
    return re.sub("%(?:22|0[AaDd])", lambda m: _FORM_FILENAME_ESCAPES[m.group(0).upper()], raw)


def clean_filename(raw: str | None) -> str:
    """The name shown for a file: its last path part, without control or format characters, at most
    MAX_FILENAME_CHARS; "file" when nothing is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name)
                   if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and len(ext) <= 10 else ""
        name = (stem if dot and ext else name)[:MAX_FILENAME_CHARS - len(ext)] + ext
    return name or "file"


def _extension(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def sniff(filename: str, data: bytes) -> tuple[str, str]:
    """(content_type, kind) for an upload, kind being "image" (safe to show inline) or "file";
    UnsupportedFileType for anything else. The bytes decide; the extension only names which
    zip-based or text format a file is."""
    if not data:
        raise InvalidInput("the file is empty", code="empty_file")
    for magic, content_type in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return content_type, "image"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "image"
    if data.startswith(b"%PDF-"):
        return "application/pdf", "file"
    ext = _extension(filename)
    if data.startswith(b"PK\x03\x04") and ext in _ZIP_TYPES:
        return _ZIP_TYPES[ext], "file"
    if ext in _TEXT_TYPES:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsupportedFileType(f"{ext} files must be UTF-8 text") from None
        if _TEXT_CONTROL.search(text):
            raise UnsupportedFileType(f"{ext} files must be plain text (this one holds control characters)")
        return _TEXT_TYPES[ext], "file"
    raise UnsupportedFileType(f"this kind of file is not accepted; send {ACCEPTED_DESCRIPTION}")


def attachment_meta(row: dict) -> dict:
    """What a message carries about one of its files (and what an upload answers)."""
    return {"id": row["id"], "name": row["filename"], "size": row["size_bytes"],
            "content_type": row["content_type"], "kind": row["kind"]}


def content_disposition(kind: str, filename: str) -> str:
    """Images open inline (they are shown in the chat); every other file is a download."""
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    quoted = urllib.parse.quote(filename, safe="")
    return f"{'inline' if kind == 'image' else 'attachment'}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


def preview_text(body: str, attachments: list[dict] | None) -> str:
    """The text a session's preview shows for a message: its text, else its files' names."""
    if body or not attachments:
        return body
    return PREVIEW_PREFIX + ", ".join(a["name"] for a in attachments)


def files_of(message: dict) -> list[dict]:
    """A message's files: from a stored row (JSON text or NULL) or a serialized message (a list)."""
    files = message.get("attachments")
    if not files:
        return []
    return json.loads(files) if isinstance(files, str) else files


def describe_files(message: dict) -> str:
    """The files of a message in words, for a reader that cannot open them (the AI's prompt)."""
    return "\n".join(f"[sent a file: {f['name']} ({f['content_type']}, {max(1, round(f['size'] / 1024))} KB)]"
                     for f in files_of(message))
