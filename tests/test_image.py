"""The build context: reproducible bytes, content-hash tag, only what the Dockerfile copies."""

from __future__ import annotations

import pathlib
import tarfile

import pytest

from helpers import errors, image


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "project"
    (root / "model").mkdir(parents=True)
    (root / "lib" / "__pycache__").mkdir(parents=True)
    (root / "model" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nCOPY model/model.py /app/model.py\nCOPY --chown=1000 lib /app/lib\n"
    )
    (root / "model" / "model.py").write_text("print('train')\n")
    (root / "lib" / "util.py").write_text("x = 1\n")
    (root / "lib" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"junk")
    (root / "unrelated.txt").write_text("not copied\n")
    return root


def test_copied_paths_reads_every_copy_line() -> None:
    text = "FROM x\nCOPY a b /dest/\ncopy --chown=1:1 c /d\nRUN echo COPY nothing\n"
    assert image.copied_paths(text) == ["a", "b", "c"]


def test_context_holds_the_dockerfile_and_what_it_copies(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    context = image.build_context(output_dir=tmp_path / "out", project_dir=project)
    assert context.files == ("lib/util.py", "model/Dockerfile", "model/model.py")
    with tarfile.open(context.tarball) as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == list(context.files)
    assert all(member.mtime == 0 and member.uid == 0 for member in members)
    assert len(context.tag) == image.TAG_LENGTH and context.tarball.name == f"{context.tag}.tar.gz"


def test_same_sources_same_tag_changed_source_new_tag(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    first = image.build_context(output_dir=tmp_path / "a", project_dir=project)
    second = image.build_context(output_dir=tmp_path / "b", project_dir=project)
    assert first.tag == second.tag
    assert first.tarball.read_bytes() == second.tarball.read_bytes()
    (project / "unrelated.txt").write_text("changed, but not in the image\n")
    assert image.build_context(output_dir=tmp_path / "c", project_dir=project).tag == first.tag
    (project / "model" / "model.py").write_text("print('train better')\n")
    assert image.build_context(output_dir=tmp_path / "d", project_dir=project).tag != first.tag


def test_missing_copied_path_is_named(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (project / "model" / "Dockerfile").write_text("FROM x\nCOPY nowhere /app/\n")
    with pytest.raises(errors.ConfigError, match="nowhere"):
        image.build_context(output_dir=tmp_path / "out", project_dir=project)


def test_a_context_folder_is_the_root_of_the_tarball(project: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (project / "ui").mkdir()
    (project / "ui" / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY . /app/ui\n")
    (project / "ui" / "app.py").write_text("print('ui')\n")
    context = image.build_context(
        output_dir=tmp_path / "out", project_dir=project, dockerfile="ui/Dockerfile", context_dir="ui"
    )
    assert context.files == ("Dockerfile", "app.py")
    assert context.dockerfile == "Dockerfile", "relative to the context, as docker build -f and kaniko read it"


def test_the_real_images_pack(tmp_path: pathlib.Path) -> None:
    training = image.build_context(output_dir=tmp_path)
    assert "model/model.py" in training.files and "helpers/data.py" in training.files
    ui = image.build_context(output_dir=tmp_path, dockerfile=image.UI_DOCKERFILE, context_dir=image.UI_CONTEXT_DIR)
    assert "__init__.py" in ui.files and "templates/base.html" in ui.files
    assert training.tag != ui.tag
