import os

import pytest

from linksvc.core.errors import FileMissing
from linksvc.core.errors import PathRefused
from linksvc.core.files import covers
from linksvc.core.files import leads_to_grant
from linksvc.core.files import ProtectedTree


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
