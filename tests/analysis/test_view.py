"""The final filesystem as the rules see it: an entry a layer wrote through a symlinked
directory is where the link led, as container runtimes apply layers."""

from __future__ import annotations

from tests.support import tars
from tests.support.images import config, findings

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
ENV = f"GITHUB_TOKEN={GHP}\n"
PASSWD = "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n"


def secret_rules(layers: list[list[tars.Item]]) -> list[str]:
    found = findings(layers, config(user="65532", layers=len(layers)))
    return [f.rule for f in found if f.rule.startswith("secret")]


def test_a_file_written_through_a_symlinked_directory_is_there_until_deleted() -> None:
    link = [tars.directory("srv/app"), tars.symlink("app", "/srv/app")]
    written = [tars.file("app/.env", ENV)]
    assert secret_rules([link, written]) == ["secret-file"]
    assert secret_rules([[*link, *written]]) == ["secret-file"]
    assert secret_rules([link, written, [tars.whiteout("srv/app/.env")]]) == [
        "secret-in-deleted-layer"
    ]
    # The reverse: a link that replaces the directory takes the files under it away.
    assert secret_rules([written, link]) == ["secret-in-deleted-layer"]


def test_passwd_written_through_a_symlinked_directory_is_read() -> None:
    layers = [
        [tars.directory("usr/etc"), tars.symlink("etc", "usr/etc")],
        [tars.file("etc/passwd", PASSWD)],
    ]
    [finding] = findings(layers, config(user="toor", layers=2), "root-user")
    assert "uid 0" in finding.evidence


def test_passwd_that_is_a_link_is_read_where_it_leads() -> None:
    """A name /etc/passwd maps to uid 0 is root even when /etc/passwd links elsewhere, in
    whichever order the layers bring the link and the file."""
    link = [tars.symlink("etc/passwd", "../usr/lib/passwd")]
    target = [tars.file("usr/lib/passwd", PASSWD)]
    for layers in ([link, target], [target, link], [[*target, *link]]):
        [finding] = findings(layers, config(user="toor", layers=len(layers)), "root-user")
        assert "uid 0" in finding.evidence
