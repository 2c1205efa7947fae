import os

import pytest

from linksvc.core.errors import FileMissing
from linksvc.core.errors import PathRefused
from linksvc.files.tree import covers
from linksvc.files.tree import leads_to_grant
from linksvc.files.tree import ProtectedTree


@pytest.mark.parametrize(
    "relpath",
    [
        "../outside/secret.txt",
        "reports/../../outside/secret.txt",
        "..",
        ".",
        "./readme.txt",
        "reports/./q3",
        "reports//q3",
        "/etc/passwd",
        "//etc/passwd",
        "C:/Windows/win.ini",
        "c:secret",
        "reports\\q3",
        "..\\outside",
        "readme.txt\x00.png",
        "read\nme.txt",
        ".hidden",
        "reports/.git/config",
        "\u2024\u2024/outside",  # one-dot leaders fold to ".." under NFKC
        "\uff0e\uff0e/outside",  # fullwidth full stops
        "reports\uff0fq3",  # fullwidth solidus folds to "/"
        "a" * 300,
        "a/" * 600 + "b",
    ],
)
def test_clean_refuses(relpath):
    with pytest.raises(PathRefused):
        ProtectedTree.clean(relpath)


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("readme.txt", "readme.txt"),
        ("reports/q3/", "reports/q3"),
        ("", ""),
        ("meeting notes.txt", "meeting notes.txt"),
        ("résumé Zoë.txt", "résumé Zoë.txt"),
        ("%2e%2e/secret", "%2e%2e/secret"),  # a literal name, never decoded again
        ("a..b", "a..b"),
    ],
)
def test_clean_accepts(relpath, expected):
    assert ProtectedTree.clean(relpath) == expected


def test_file_resolves_inside(tree):
    clean, path, st = ProtectedTree(tree).file("reports/q3/summary.csv")
    assert clean == "reports/q3/summary.csv"
    assert path.read_text().startswith("quarter")
    assert st.st_size == path.stat().st_size


def test_symlink_inside_the_tree_is_followed(tree):
    _, path, _ = ProtectedTree(tree).file("inside-link.txt")
    assert path == tree / "readme.txt"


@pytest.mark.parametrize("relpath", ["escape.txt", "escape-dir/secret.txt"])
def test_symlink_leaving_the_tree_is_refused(tree, relpath):
    with pytest.raises(PathRefused):
        ProtectedTree(tree).file(relpath)


@pytest.mark.parametrize("relpath", ["nope.txt", "reports", "reports/q3/nope/x"])
def test_missing_files_and_folders_are_missing(tree, relpath):
    with pytest.raises(FileMissing):
        ProtectedTree(tree).file(relpath)


def test_unreadable_special_files_are_missing(tree):
    os.mkfifo(tree / "fifo")
    with pytest.raises(FileMissing):
        ProtectedTree(tree).file("fifo")


@pytest.mark.parametrize(
    ("grants", "path", "expected"),
    [
        (["reports/q3"], "reports/q3/summary.csv", True),
        (["reports/q3"], "reports/q3", True),
        (["reports/q3"], "reports/q3-old/draft.txt", False),
        (["reports/q3"], "reports", False),
        (["reports/q3"], "readme.txt", False),
        ([""], "anything/at/all", True),
        ([], "readme.txt", False),
    ],
)
def test_grants_cover_their_folder_and_nothing_beside(grants, path, expected):
    assert covers(grants, path) is expected


def test_folders_on_the_way_to_a_grant_can_be_browsed():
    assert leads_to_grant(["reports/q3"], "reports")
    assert leads_to_grant(["reports/q3"], "")
    assert not leads_to_grant(["reports/q3"], "reports/q3-old")


def test_listing_shows_only_what_the_grants_reach(tree):
    tree_ = ProtectedTree(tree)
    names = [e.name for e in tree_.listing("", ["reports/q3"])]
    assert names == ["reports"]
    names = [e.name for e in tree_.listing("reports", ["reports/q3"])]
    assert names == ["q3"]
    everything = [e.name for e in tree_.listing("", [""])]
    assert ".hidden" not in everything
    assert "escape.txt" not in everything and "escape-dir" not in everything
    assert everything[:3] == ["reports", "web", "big.bin"]
    assert "résumé Zoë.txt" in everything


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        (b"bytes", "The path must be text."),
        ("a" * 1025, "The path is too long."),
        ("read\nme", "The path contains a forbidden character."),
        ("a\\b", "The path contains a forbidden character."),
        ("invoice\u202egpj.exe", "The path contains a forbidden character."),
        ("/etc/passwd", "The path must be relative to the protected folder."),
        ("C:/x", "The path must be relative to the protected folder."),
        ("a//b", "The path has an empty, relative or hidden segment."),
        (".git", "The path has an empty, relative or hidden segment."),
        ("a\uff3cb", "The path has an empty, relative or hidden segment."),
        ("\ud800", "The path is not valid text."),
        ("é" * 128, "A name in the path is too long."),
    ],
)
def test_each_refusal_says_why(relpath, message):
    with pytest.raises(PathRefused) as info:
        ProtectedTree.clean(relpath)
    assert str(info.value) == message


def test_the_limits_are_inclusive():
    assert ProtectedTree.clean("a/" * 511 + "bc") == "a/" * 511 + "bc"  # 1024
    assert ProtectedTree.clean("x" * 255) == "x" * 255  # 255 bytes
    assert ProtectedTree.clean("é" * 127 + "x") == "é" * 127 + "x"  # 255 bytes
    with pytest.raises(PathRefused):
        ProtectedTree.clean("x" * 256)


def test_a_file_with_another_hard_link_is_refused_and_says_so(tree):
    with pytest.raises(PathRefused) as info:
        ProtectedTree(tree).file("hardlink.txt")
    assert str(info.value) == (
        "The file 'hardlink.txt' has other hard links and is not served."
    )


def test_each_segment_is_checked_for_a_symlink_that_leaves(tree, tmp_path):
    """The escape here is a symlinked folder and a file with one link only,
    so nothing but the per-segment check refuses it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.txt").write_text("outside")
    (tree / "linked-dir").symlink_to(elsewhere)
    with pytest.raises(PathRefused) as info:
        ProtectedTree(tree).file("linked-dir/x.txt")
    assert str(info.value) == "The path leads outside the protected folder."


def test_missing_things_name_what_is_missing(tree):
    with pytest.raises(FileMissing) as info:
        ProtectedTree(tree).file("reports/nothing.txt")
    assert str(info.value) == "There is no file at 'reports/nothing.txt'."
    with pytest.raises(FileMissing) as info:
        ProtectedTree(tree).folder("readme.txt")
    assert str(info.value) == "There is no folder at 'readme.txt'."
    with pytest.raises(FileMissing) as info:
        ProtectedTree(tree).file("reports")
    assert str(info.value) == "There is no file at 'reports' (it is not a file)."


def test_relative_names_real_paths_under_the_root(tree):
    tree_ = ProtectedTree(tree)
    assert tree_.relative(tree_.root) == ""
    assert tree_.relative(tree_.root / "reports" / "q3") == "reports/q3"


def test_listing_judges_symlinks_by_where_they_lead(tree):
    (tree / "pub").mkdir()
    (tree / "pub" / "open.txt").write_text("open")
    (tree / "pub" / "to-q3").symlink_to(tree / "reports" / "q3")
    (tree / "pub" / "to-old").symlink_to(tree / "reports" / "q3-old")
    (tree / "pub" / "summary-link.csv").symlink_to(
        tree / "reports" / "q3" / "summary.csv"
    )
    (tree / "pub" / "draft-link.txt").symlink_to(
        tree / "reports" / "q3-old" / "draft.txt"
    )
    (tree / "pub" / "to-reports").symlink_to(tree / "reports")
    tree_ = ProtectedTree(tree)
    # A grant of pub and reports/q3: links into q3 show, links elsewhere do not.
    grants = ["pub", "reports/q3"]
    seen = {e.name: e for e in tree_.listing("pub", grants)}
    assert sorted(seen) == ["open.txt", "summary-link.csv", "to-q3", "to-reports"]
    # "to-reports" leads to a folder on the way to the grant: browsable.
    assert seen["to-q3"].is_dir and seen["to-reports"].is_dir
    link = seen["summary-link.csv"]
    assert (link.path, link.is_dir, link.size) == ("pub/summary-link.csv", False, 21)
    assert link.mtime == (tree / "reports" / "q3" / "summary.csv").stat().st_mtime
    # Without the grant of reports/q3 none of the links shows.
    assert sorted(e.name for e in tree_.listing("pub", ["pub"])) == ["open.txt"]
    # Admins see every link that stays inside, but never a hard-linked file.
    everything = [e.name for e in tree_.listing("pub", [""])]
    assert everything == [
        "to-old",
        "to-q3",
        "to-reports",
        "draft-link.txt",
        "open.txt",
        "summary-link.csv",
    ]
    assert "hardlink.txt" not in [e.name for e in tree_.listing("", [""])]
    assert "inside-link.txt" in [e.name for e in tree_.listing("", [""])]


def test_a_replaced_protected_folder_is_followed(tmp_path, monkeypatch):
    """The tree keeps its root open; a folder put in its place is followed
    (within ROOT_CHECK seconds; here at once), old files are not served."""
    from linksvc.core.errors import FileMissing
    from linksvc.files import tree as files
    from linksvc.files.tree import ProtectedTree

    monkeypatch.setattr(files, "ROOT_CHECK", -1)
    root = tmp_path / "protected"
    root.mkdir()
    (root / "a.txt").write_text("old\n")
    tree_ = ProtectedTree(root)
    first = tree_.open("a.txt")
    first.close()
    root.rename(tmp_path / "protected-old")
    root.mkdir()
    (root / "b.txt").write_text("new\n")
    with pytest.raises(FileMissing):
        tree_.open("a.txt")  # only in the folder that was replaced
    second = tree_.open("b.txt")
    assert os.read(second.fd, 10) == b"new\n"
    second.close()
