"""POST /v1/files: type from magic bytes, limits (bytes, and frames and pixels of images), no markup,
metadata and content round trip, download headers, filename hygiene."""
from __future__ import annotations

import hashlib
import os
import re
import time

import pytest
from sqlalchemy import func, select

from priorauth.files.models import StoredFile
from priorauth.ids import new_id
from tests.cases import tiny_pdf
from tests.support.apps import http_client, new_client, running_app
from tests.support.images import image, png_header, tiff
from tests.test_errors import assert_envelope

F = "/v1/files"
SMALL_LIMIT = 1000

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
TIFF_LE = b"II*\x00\x08\x00\x00\x00\x00\x00"
TIFF_BE = b"MM\x00*\x00\x00\x00\x08\x00\x00"
TEXT = "Chart note: no relief from NSAIDs — 6 weeks. Schmerz ✓\n".encode()


@pytest.fixture(scope="module")
async def small_app(backend, tmp_path_factory):
    """An app of the same backend with max_file_bytes=1000."""
    async with running_app(backend, tmp_path_factory.mktemp("small-files"), max_file_bytes=SMALL_LIMIT,
                           worker_enabled=False) as application:
        yield application


@pytest.fixture
async def small(small_app):
    created = await new_client(small_app, "provider")
    async with http_client(small_app, created.secret) as c:
        yield c


async def upload(client, data: bytes, filename: str = "upload.bin", declared: str = "application/octet-stream"):
    return await client.post(F, files={"file": (filename, data, declared)})


# ---------------------------------------------------------------- detection by content

@pytest.mark.parametrize("data, declared, detected", [
    (tiny_pdf(), "image/png", "application/pdf"),
    (PNG, "application/pdf", "image/png"),
    (JPEG, "text/plain", "image/jpeg"),
    (TIFF_LE, "application/pdf", "image/tiff"),
    (TIFF_BE, "application/octet-stream", "image/tiff"),
    (TEXT, "application/pdf", "text/plain"),
], ids=["pdf", "png", "jpeg", "tiff-le", "tiff-be", "text"])
async def test_type_comes_from_magic_bytes_not_the_declared_type(client, data, declared, detected):
    response = await upload(client, data, "scan.dat", declared)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["contentType"] == detected
    assert body["object"] == "file" and body["id"].startswith("file_")
    assert body["size"] == len(data) and body["sha256"] == hashlib.sha256(data).hexdigest()
    content = await client.get(f"{F}/{body['id']}/content")
    assert content.headers["content-type"].split(";")[0] == detected


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00",  # Windows executable
    b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8,  # ELF executable
    b"PK\x03\x04\x14\x00\x00\x00",  # zip / docx
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00",  # an image type we do not take
    b"\xff\xfe\xfdnot utf-8",  # binary without NUL, invalid UTF-8
    b"plain text until a NUL\x00byte",
    os.urandom(64) + b"\x00",
], ids=["exe", "elf", "zip", "gif", "invalid-utf8", "text-with-nul", "random"])
async def test_other_content_is_415(client, data):
    response = await upload(client, data, "report.pdf", "application/pdf")
    error = assert_envelope(response, 415, "unsupported_file_type")
    assert "application/pdf" in error["message"]


async def test_empty_file_is_422(client):
    error = assert_envelope(await upload(client, b"", "empty.pdf", "application/pdf"), 422, "validation_failed")
    assert [i["path"] for i in error["issues"]] == ["file"]


# ---------------------------------------------------------------- limits

async def test_file_at_the_limit_is_accepted_and_one_byte_more_is_413(small):
    accepted = await upload(small, b"a" * SMALL_LIMIT, "limit.txt", "text/plain")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["size"] == SMALL_LIMIT
    error = assert_envelope(await upload(small, b"a" * (SMALL_LIMIT + 1), "over.txt"), 413, "payload_too_large")
    assert str(SMALL_LIMIT) in error["message"]


async def test_request_far_over_the_limit_is_413_before_parsing(small):
    """Over max_file_bytes + 1 MiB of multipart overhead, the middleware refuses from Content-Length."""
    response = await upload(small, b"a" * (SMALL_LIMIT + 1024 * 1024 + 10), "huge.txt")
    assert_envelope(response, 413, "payload_too_large")


async def stored_files(app, organization_id: str) -> int:
    async with app.state.db.read() as session:
        return await session.scalar(select(func.count()).select_from(StoredFile)
                                    .where(StoredFile.organization_id == organization_id))


# ---------------------------------------------------------------- image budgets (decompression bombs)

@pytest.mark.parametrize("data, limit, maximum, actual", [
    # The bomb: twenty 9000x9000 pages in 12 KB, 1.6 GB once decoded.
    (tiff([(9000, 9000)] * 20), "frame_pixels", 50_000_000, 81_000_000),
    # Only the first page is small: Pillow's own check (Image.MAX_IMAGE_PIXELS) sees nothing else.
    (tiff([(100, 100)] + [(9000, 9000)] * 19), "frame_pixels", 50_000_000, 81_000_000),
    # Every page under the frame limit, together over the total.
    (tiff([(7000, 7000)] * 13), "total_pixels", 600_000_000, 637_000_000),
    (tiff([(10, 10)] * 501), "frames", 500, 501),
    # A 16x16 page that claims 40000x40000 tiles: 1.6 GB allocated by the decoder for a 150-byte file.
    (tiff([(16, 16)], bits=8, tile=(40000, 40000)), "frame_pixels", 50_000_000, 1_600_000_000),
    # One huge frame, below Pillow's own warning (89 MP), and one far above its error (179 MP).
    (png_header(9000, 9000), "frame_pixels", 50_000_000, 81_000_000),
    (png_header(60000, 60000), "frame_pixels", 50_000_000, None),
    (image("JPEG", (8000, 8000)), "frame_pixels", 50_000_000, 64_000_000),
], ids=["tiff-20x81MP", "tiff-small-first-page", "tiff-total", "tiff-501-pages", "tiff-huge-tiles", "png-81MP",
        "png-3.6GP", "jpeg-64MP"])
async def test_image_over_its_pixel_or_frame_budget_is_422_and_nothing_is_stored(
        app, client, credentials, data, limit, maximum, actual):
    assert len(data) < 2_000_000  # small on the wire: only the headers tell
    error = assert_envelope(await upload(client, data, "scan.tif", "image/tiff"), 422, "image_too_large")
    setting = {"frames": "PRIORAUTH_MAX_IMAGE_FRAMES", "frame_pixels": "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS",
               "total_pixels": "PRIORAUTH_MAX_IMAGE_TOTAL_PIXELS"}[limit]
    assert error["details"] == {"limit": limit, "setting": setting, "maximum": maximum, "actual": actual}
    assert setting in error["message"] and f"{maximum:,}" in error["message"]
    assert await stored_files(app, credentials.organization_id) == 0


@pytest.mark.parametrize("data, content_type", [
    (tiff([(1728, 2200)] * 50), "image/tiff"),  # a 50-page fax (204x196 dpi)
    (tiff([(2550, 3300)] * 50, bits=8), "image/tiff"),  # 50 letter pages scanned at 300 dpi, grey
    (tiff([(5100, 8400)]), "image/tiff"),  # a legal page at 600 dpi
    (image("PNG", (2550, 3300)), "image/png"),
    (image("JPEG", (8000, 6000)), "image/jpeg"),  # a 48 MP phone photo
], ids=["fax-50-pages", "scan-50-pages-300dpi", "legal-600dpi", "png-letter", "jpeg-48MP"])
async def test_real_scans_are_within_the_default_budget(client, data, content_type):
    response = await upload(client, data, "scan.bin")
    assert response.status_code == 201, response.text
    assert response.json()["contentType"] == content_type


async def test_image_budgets_are_settings(own_app):
    application = await own_app(max_image_frames=3, max_image_frame_pixels=10_000, max_image_total_pixels=25_000)
    created = await new_client(application, "provider")
    async with http_client(application, created.secret) as c:
        assert (await upload(c, tiff([(100, 100)] * 2))).status_code == 201
        for data, limit in ((tiff([(10, 10)] * 4), "frames"), (tiff([(101, 100)]), "frame_pixels"),
                            (tiff([(100, 100)] * 3), "total_pixels")):
            error = assert_envelope(await upload(c, data), 422, "image_too_large")
            assert error["details"]["limit"] == limit


async def test_text_that_prints_to_too_many_pages_is_422_and_nothing_is_stored(app, client, credentials):
    """25 MB of newlines would print 400,000 pages (hours of rendering, gigabytes of memory): refused at
    upload from a count of the lines, quickly; ordinary notes of the same size limit pass."""
    started = time.monotonic()
    error = assert_envelope(await upload(client, b"\n" * (5 * 1024 * 1024), "note.txt"), 422, "text_too_long")
    assert time.monotonic() - started < 10
    assert error["details"]["limit"] == "text_pages" and error["details"]["setting"] == "PRIORAUTH_MAX_TEXT_PAGES"
    assert error["details"]["maximum"] == 500 and error["details"]["actual"] > 80_000
    one_long_line = assert_envelope(await upload(client, b"x" * 4_000_000, "note.txt"), 422, "text_too_long")
    assert one_long_line["details"]["actual"] > 500  # wrapped lines count too
    assert await stored_files(app, credentials.organization_id) == 0
    notes = ("Knee pain for 6 months despite NSAIDs and 8 weeks of physical therapy; KL grade 3.\n" * 25_000)
    assert (await upload(client, notes.encode(), "notes.txt")).status_code == 201  # ~2 MB, ~400 pages


async def test_the_text_page_limit_is_a_setting(own_app):
    application = await own_app(max_text_pages=2)
    async with http_client(application, (await new_client(application, "provider")).secret) as c:
        assert (await upload(c, b"line\n" * 120, "a.txt")).status_code == 201  # 2 pages of 63 lines
        error = assert_envelope(await upload(c, b"line\n" * 130, "b.txt"), 422, "text_too_long")
        assert error["details"]["maximum"] == 2 and error["details"]["actual"] == 3


# ---------------------------------------------------------------- markup is never stored

@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html><html><body>hi</body></html>",
    b"\xef\xbb\xbf \r\n\t<HTML>",
    b"<script>alert(document.cookie)</script>",
    b"  <svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    b"<iframe src=https://example.org>",
    b"<!-- a comment first --><p>",
    b"<a href=javascript:alert(1)>chart</a>",
    b"<ImG src=x onerror=alert(1)>",
    b"<body\nonload=alert(1)>",
], ids=["doctype", "bom-whitespace-upper", "script", "svg", "xml", "iframe", "comment", "anchor", "img", "body"])
async def test_html_svg_and_xml_are_refused_and_nothing_is_stored(app, client, credentials, data):
    error = assert_envelope(await upload(client, data, "note.txt", "text/plain"), 415, "unsupported_file_type")
    assert "HTML, SVG and XML" in error["message"]
    assert await stored_files(app, credentials.organization_id) == 0


@pytest.mark.parametrize("data", [b"<5 mm lesion, stable", b"a <script> tag quoted later is text", b"<<>>",
                                  b"<abdominal pain>", b"<br2>"])
async def test_text_that_only_contains_angle_brackets_is_still_text(client, data):
    response = await upload(client, data, "note.txt", "text/plain")
    assert response.status_code == 201, response.text
    assert response.json()["contentType"] == "text/plain"


async def test_pdf_polyglot_is_served_as_a_pdf_attachment_never_sniffed(client):
    polyglot = b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script></body></html>\n%%EOF\n"
    uploaded = await upload(client, polyglot, "report.html", "text/html")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["contentType"] == "application/pdf"
    content = await client.get(f"{F}/{uploaded.json()['id']}/content")
    assert content.content == polyglot
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-disposition"] == 'attachment; filename="report.html"'
    assert content.headers["cache-control"] == "no-store"


async def test_markup_stored_as_text_before_uploads_refused_it_is_served_as_opaque_bytes(app, client, credentials):
    """A row written by an older version (markup sniffed as text/plain) is never served as text."""
    html = b"<html><script>alert(1)</script></html>"
    file_id = new_id("file")
    async with app.state.db.write() as session:
        session.add(StoredFile(id=file_id, organization_id=credentials.organization_id, filename="note.txt",
                               content_type="text/plain", size=len(html), sha256=hashlib.sha256(html).hexdigest(),
                               content=html))
    content = await client.get(f"{F}/{file_id}/content")
    assert content.status_code == 200 and content.content == html
    assert content.headers["content-type"] == "application/octet-stream"
    assert content.headers["content-disposition"] == 'attachment; filename="note.txt"'


# ---------------------------------------------------------------- round trip

async def test_metadata_and_content_round_trip(client):
    data = tiny_pdf("round trip")
    uploaded = await upload(client, data, "Knee X-ray report.pdf", "application/pdf")
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert set(body) == {"id", "object", "filename", "contentType", "size", "sha256", "createdAt"}
    assert body["filename"] == "Knee X-ray report.pdf"
    assert body["createdAt"].endswith("Z")

    metadata = await client.get(f"{F}/{body['id']}")
    assert metadata.status_code == 200
    assert metadata.json() == body

    content = await client.get(f"{F}/{body['id']}/content")
    assert content.status_code == 200
    assert content.content == data
    assert hashlib.sha256(content.content).hexdigest() == body["sha256"]
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"] == 'attachment; filename="Knee X-ray report.pdf"'


async def test_unknown_file_is_404(client, anon):
    for path in (f"{F}/file_missing", f"{F}/file_missing/content"):
        error = assert_envelope(await client.get(path), 404, "not_found")
        assert error["details"] == {"resource": "file"}
    assert_envelope(await anon.post(F, files={"file": ("a.txt", b"hi", "text/plain")}), 401, "unauthorized")


# ---------------------------------------------------------------- malformed requests

async def test_missing_file_field_is_422(client):
    for kwargs in ({"data": {"other": "x"}}, {"files": {"upload": ("a.txt", b"hi", "text/plain")}},
                   {"data": {"file": "not a file, a plain field"}},
                   {"files": {"other": ("a.txt", b"hi", "text/plain")}, "data": {"x": "y"}}):
        error = assert_envelope(await client.post(F, **kwargs), 422, "validation_failed")
        assert [i["path"] for i in error["issues"]] == ["file"]


@pytest.mark.parametrize("content, content_type", [
    (b'{"file": "aGVsbG8="}', "application/json"),
    (b"hello", "application/octet-stream"),
    (b"hello", None),
    (b"--xx\r\ngarbage", "multipart/form-data"),  # no boundary parameter
    (b"garbage without any boundary", "multipart/form-data; boundary=xx"),
    (b"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nunterminated",
     "multipart/form-data; boundary=xx"),
    (b"a=1&b=2", "application/x-www-form-urlencoded"),
], ids=["json", "octet-stream", "no-content-type", "no-boundary", "garbage", "unterminated", "urlencoded"])
async def test_non_multipart_or_broken_body_is_a_4xx_envelope(client, content, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(F, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response, response.status_code)


async def test_two_files_is_a_4xx_envelope(client):
    files = [("file", ("a.txt", b"one", "text/plain")), ("file", ("b.txt", b"two", "text/plain"))]
    response = await client.post(F, files=files)
    assert 400 <= response.status_code < 500, response.text
    assert_envelope(response, response.status_code)


SAFE_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,200}$")


@pytest.mark.parametrize("given, stored", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/var/tmp/../note.txt", "note.txt"),
    ("C:\\Users\\ada\\Desktop\\note.txt", "note.txt"),
    ("..", "upload"),
    ("...", "upload"),
    ("résumé<script>.txt", "r_sum_script_.txt"),
    ("x" * 300 + ".txt", "x" * 200),
    ('a"b;c\r\nX-Injected: 1.txt', None),  # the client percent-encodes some of it; only safe characters remain
    ("\u202etxt.exe", None),
])
async def test_filename_is_sanitised(client, given, stored):
    response = await upload(client, b"note", given, "text/plain")
    assert response.status_code == 201, response.text
    body = response.json()
    assert SAFE_NAME.match(body["filename"]), body["filename"]
    if stored is not None:
        assert body["filename"] == stored
    content = await client.get(f"{F}/{body['id']}/content")
    assert content.headers["content-disposition"] == f'attachment; filename="{body["filename"]}"'
    assert "x-injected" not in content.headers


async def test_raw_multipart_filename_with_quotes_and_path(client):
    """Built by hand, so the server sees the filename exactly as a careless client would send it."""
    body = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="..\\..\\win\\evil;x=\\"1.txt"\r\n'
            b"Content-Type: application/pdf\r\n\r\nhello\r\n--b0undary--\r\n")
    response = await client.post(F, content=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert response.status_code == 201, response.text
    name = response.json()["filename"]
    assert SAFE_NAME.match(name) and "\\" not in name and "/" not in name and not name.startswith("."), name
    assert response.json()["contentType"] == "text/plain"
