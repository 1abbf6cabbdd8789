"""Request bodies as a platform's HTTP client writes them."""

from __future__ import annotations

import uuid


def multipart(data: bytes, filename: str = "upload.jpg") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one ``file`` part, and its content type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )
