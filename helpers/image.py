"""The training image's build context: a reproducible tarball and a content-hash tag.

The context holds the Dockerfile and exactly the paths its COPY lines name, packed with
fixed order, owners and times, so the same sources always give the same bytes and so the
same tag: a re-run of 02 finds the image already built instead of building it again.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pathlib
import re
import tarfile

from helpers import errors, report

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
DOCKERFILE = "model/Dockerfile"
# The web UI is its own image, built from its own folder.
UI_DOCKERFILE, UI_CONTEXT_DIR = "webui/Dockerfile", "webui"
# Hex digits of the content hash kept in the tag: 12, like Git's short hashes, is plenty
# to tell builds of one repository apart.
TAG_LENGTH = 12
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
_COPY = re.compile(r"^\s*COPY\s+(?:--\S+\s+)*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """A packed build context: where the tarball is, its tag and what it holds."""

    tarball: pathlib.Path
    tag: str
    dockerfile: str
    files: tuple[str, ...]


def copied_paths(dockerfile_text: str) -> list[str]:
    """The source paths of every COPY line (the last word of each line is the destination)."""
    sources: list[str] = []
    for arguments in _COPY.findall(dockerfile_text):
        words = arguments.split()
        sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def _files_under(root: pathlib.Path, relative: str, *, dockerfile: str) -> list[str]:
    path = root / relative
    if not path.exists():
        raise errors.ConfigError("dockerfile", relative, f"is copied by {dockerfile} but does not exist")
    if path.is_file():
        return [str(path.relative_to(root))]
    return sorted(
        str(file.relative_to(root))
        for file in path.rglob("*")
        if file.is_file() and not _SKIPPED.intersection(file.relative_to(root).parts) and file.suffix != ".pyc"
    )


def _tar_bytes(project_dir: pathlib.Path, files: list[str]) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 in the gzip header and in every member keeps the bytes identical across runs.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in files:
            data = (project_dir / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_context(
    *,
    output_dir: pathlib.Path,
    project_dir: pathlib.Path = PROJECT_DIR,
    dockerfile: str = DOCKERFILE,
    context_dir: str = ".",
) -> BuildContext:
    """Pack the Dockerfile and what it copies into `<output_dir>/<tag>.tar.gz`.

    COPY sources are relative to `context_dir` (a folder of the project, "." for its root), as
    `docker build <context_dir>` reads them. Raises ConfigError when the Dockerfile is missing
    or copies a path that does not exist.
    """
    root = project_dir / context_dir
    dockerfile_path = project_dir / dockerfile
    if not dockerfile_path.is_file():
        raise errors.ConfigError("dockerfile", dockerfile, f"not found under {project_dir}")
    files = {str(dockerfile_path.relative_to(root))}
    for source in copied_paths(dockerfile_path.read_text()):
        files.update(_files_under(root, source.rstrip("/"), dockerfile=dockerfile))
    ordered = sorted(files)
    data = _tar_bytes(root, ordered)
    tag = hashlib.sha256(data).hexdigest()[:TAG_LENGTH]
    output_dir.mkdir(parents=True, exist_ok=True)
    tarball = output_dir / f"{tag}.tar.gz"
    if not tarball.exists():
        tarball.write_bytes(data)
    return BuildContext(
        tarball=tarball, tag=tag, dockerfile=str(dockerfile_path.relative_to(root)), files=tuple(ordered)
    )


def describe(context: BuildContext) -> report.Report:
    """The context as a table: its tag, tarball and every file it holds."""
    rows = [report.Row("tag", context.tag, "content hash"), report.Row("tarball", str(context.tarball), "packed")]
    rows += [report.Row("file", name, "included") for name in context.files]
    return report.Report(f"Build context ({len(context.files)} files)", tuple(rows))
