"""Backups: a consistent copy of the database with a manifest beside it.

SQLite is copied with the sqlite3 online backup API (one step, so the copy is one
consistent snapshot even while others write); PostgreSQL with ``pg_dump -Fc`` run on a
snapshot exported from the transaction that counts the rows, so the manifest's counts are the
dump's. The manifest names the schema revision, the row count of every table, the app
version and the file's SHA-256. The secrets file is never part of a backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

FORMAT = "asthron-backup/1"
MANIFEST_SUFFIX = ".manifest.json"
SUFFIXES = {"sqlite": ".sqlite", "postgresql": ".dump"}


class BackupError(ValueError):
    """A backup cannot be made, read or restored; the message says why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict

    @property
    def manifest_path(self) -> Path:
        return manifest_path_of(self.path)

    @property
    def created_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.manifest["created_at"])


def dialect_of(url: str) -> str:
    name = sa.engine.make_url(url).get_backend_name()
    if name not in SUFFIXES:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def manifest_path_of(path: Path) -> Path:
    return path.with_name(path.stem + MANIFEST_SUFFIX)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def app_version() -> str:
    try:
        return metadata.version("asthron")
    except metadata.PackageNotFoundError:
        return "unknown"


def known_revisions(migrations_dir: Path) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _sqlite_path(url: str) -> Path:
    return Path(sa.engine.make_url(url).database)


def libpq_url(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools matching the server "
            "(for example apt-get install postgresql-client)"
        )
    return path


def _counts(connection) -> tuple[dict[str, int], str | None]:
    """Rows per table and the schema revision, as this connection sees them."""
    names = [n for n in sa.inspect(connection).get_table_names() if not n.startswith("sqlite_")]
    counts = {
        name: connection.execute(
            sa.select(sa.func.count()).select_from(sa.table(name))
        ).scalar_one()
        for name in sorted(names)
    }
    revision = None
    if "alembic_version" in counts:
        revision = connection.execute(
            sa.select(sa.column("version_num")).select_from(sa.table("alembic_version"))
        ).scalar()
    counts.pop("alembic_version", None)
    return counts, revision


def _sqlite_counts(path: Path) -> tuple[dict[str, int], str | None]:
    engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as connection:
            return _counts(connection)
    finally:
        engine.dispose()


def create(engine: sa.Engine, out_dir: Path) -> Backup:
    """Write a backup and its manifest into ``out_dir``; the files appear complete or not at
    all (each is written under a temporary name and renamed)."""
    url = engine.url.render_as_string(False)
    dialect = dialect_of(url)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    stem = "asthron-" + now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    path = out_dir / (stem + SUFFIXES[dialect])
    partial = path.with_name(path.name + ".partial")
    manifest_partial = out_dir / (stem + MANIFEST_SUFFIX + ".partial")
    try:
        if dialect == "sqlite":
            source_path = _sqlite_path(url)
            if not source_path.is_file():
                raise BackupError(f"database file {source_path} does not exist")
            source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
            target = sqlite3.connect(partial)
            try:
                # One step (pages=-1): the copy is a single consistent snapshot.
                source.backup(target)
                # The copy is one self-contained file: in WAL mode, every later read-only
                # open (counting, verifying) would leave -wal and -shm files beside it.
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
                source.close()
            counts, revision = _sqlite_counts(partial)
        else:
            pg_dump = pg_tool("pg_dump")
            with engine.connect() as connection:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
                    counts, revision = _counts(connection)
                    done = subprocess.run(
                        [
                            pg_dump,
                            "-Fc",
                            f"--snapshot={snapshot}",
                            "-f",
                            str(partial),
                            libpq_url(url),
                        ],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if done.returncode != 0:
                        partial.unlink(missing_ok=True)
                        raise BackupError(
                            f"pg_dump failed: {done.stderr.strip().splitlines()[-1:]}"
                        )
        partial.chmod(0o600)
        manifest = {
            "format": FORMAT,
            "file": path.name,
            "dialect": dialect,
            "created_at": now.isoformat(),
            "app_version": app_version(),
            "schema_revision": revision,
            "row_counts": counts,
            "size": partial.stat().st_size,
            "sha256": sha256_of(partial),
            "secrets": "not included: keep a copy of the secrets file separately",
        }
        manifest_partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        manifest_partial.chmod(0o600)
        partial.replace(path)
        manifest_partial.replace(manifest_path_of(path))
    except (OSError, sqlite3.Error) as exc:
        # A full disk or an unwritable folder: no half-written backup or manifest stays.
        for leftover in (partial, manifest_partial, *out_dir.glob(partial.name + "-*")):
            leftover.unlink(missing_ok=True)
        raise BackupError(
            f"could not write the backup in {out_dir}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return Backup(path, manifest)


def read_manifest(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    manifest_file = manifest_path_of(path)
    if not manifest_file.is_file():
        raise BackupError(f"{path} is not an Asthron backup: {manifest_file.name} is missing")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError):
        raise BackupError(f"{manifest_file.name} is not a readable manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{manifest_file.name} is not an Asthron backup manifest")
    if manifest.get("file") != path.name or manifest.get("dialect") not in SUFFIXES:
        raise BackupError(f"{manifest_file.name} describes another file")
    return manifest


def verify(path: Path) -> Backup:
    """Check the checksum, the file's own integrity and its row counts against the manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    if sha256_of(path) != manifest.get("sha256"):
        raise BackupError(f"{path.name} does not match its manifest's checksum (damaged?)")
    if manifest["dialect"] == "sqlite":
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                result = connection.execute("PRAGMA integrity_check").fetchall()
            finally:
                connection.close()
            counts, revision = _sqlite_counts(path)
        except (sqlite3.DatabaseError, sa.exc.DatabaseError) as exc:
            raise BackupError(f"{path.name} is not a readable SQLite database: {exc}") from None
        if result != [("ok",)]:
            raise BackupError(f"{path.name} fails SQLite's integrity check: {result[0][0]}")
        if counts != manifest.get("row_counts") or revision != manifest.get("schema_revision"):
            raise BackupError(f"{path.name} holds other rows than its manifest lists")
    else:
        done = subprocess.run(
            [pg_tool("pg_restore"), "--list", str(path)], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise BackupError(f"{path.name} is not a readable pg_dump archive")
        counts, revision = pg_archive_counts(path)
        if counts != manifest.get("row_counts") or revision != manifest.get("schema_revision"):
            raise BackupError(f"{path.name} holds other rows than its manifest lists")
    return Backup(path, manifest)


def _copy_table(line: str) -> str:
    """'COPY public."user" (id, …) FROM stdin;' → 'user'."""
    name = line[len("COPY ") :].split(" (", 1)[0].split(" FROM", 1)[0]
    return name.rsplit(".", 1)[-1].strip('"').replace('""', '"')


def pg_archive_counts(path: Path) -> tuple[dict[str, int], str | None]:
    """Rows per table in a ``pg_dump -Fc`` archive, and its schema revision, read without a
    database: ``pg_restore --data-only -f -`` writes each table's data as COPY text, one line
    per row (a newline inside a value is written as ``\\n``) between the ``COPY`` line and
    ``\\.``. Streamed, so memory stays flat whatever the archive's size; and it needs no
    scratch database, no CREATEDB privilege and no second copy of the data on the server."""
    process = subprocess.Popen(
        [pg_tool("pg_restore"), "--data-only", "--file=-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    counts: dict[str, int] = {}
    revision = None
    table = None
    assert process.stdout is not None
    for line in process.stdout:
        if table is None:
            if line.startswith("COPY ") and line.rstrip().endswith("FROM stdin;"):
                table = _copy_table(line)
                counts.setdefault(table, 0)
            continue
        if line.rstrip("\n") == "\\.":
            table = None
            continue
        counts[table] += 1
        if table == "alembic_version":
            revision = line.rstrip("\n").split("\t", 1)[0]
    _out, err = process.communicate()
    if process.returncode != 0 or table is not None:
        raise BackupError(f"{path.name} could not be read to the end: {err.strip()[-300:]}")
    counts.pop("alembic_version", None)
    return counts, revision


# A line of ``pg_restore --list`` for an extension the archive creates:
# "215; 3079 16385 EXTENSION - vector".
_EXTENSION_ENTRY_RE = re.compile(r"^\d+;\s+\d+\s+\d+\s+EXTENSION\s+-\s+(\S+)")


def archive_extensions(path: Path) -> set[str]:
    """The PostgreSQL extensions a ``pg_dump -Fc`` archive creates (pgvector's ``vector``
    when the dumped server had it)."""
    done = subprocess.run(
        [pg_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{path.name} is not a readable pg_dump archive")
    return {
        match.group(1)
        for match in map(_EXTENSION_ENTRY_RE.match, done.stdout.splitlines())
        if match
    }


def _extensions_wanted_but_unusable(database_url: str, wanted: set[str]) -> set[str]:
    """Of the extensions ``wanted``, those this database neither has installed nor lets its
    user create: not on the server at all, or (pgvector's case) not trusted, and the user is
    no superuser."""
    if not wanted:
        return set()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            installed = set(connection.scalars(sa.text("SELECT extname FROM pg_extension")))
            superuser = connection.scalar(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            )
            creatable = set(
                connection.scalars(
                    sa.text(
                        "SELECT DISTINCT name FROM pg_available_extension_versions "
                        "WHERE :superuser OR trusted"
                    ),
                    {"superuser": bool(superuser)},
                )
            )
    except sa.exc.DBAPIError as exc:
        raise BackupError(f"the configured database cannot be reached: {exc.orig}") from None
    finally:
        engine.dispose()
    return wanted - installed - creatable


def check_restorable(backup: Backup, database_url: str, migrations_dir: Path) -> None:
    """Refuse, before anything is changed, a backup this database cannot take: the other
    database kind, a newer schema, or an extension the server does not have (restoring drops
    the current schema first, so a restore failing halfway would leave the database empty)."""
    if backup.manifest["dialect"] != dialect_of(database_url):
        raise BackupError(
            f"this is a {backup.manifest['dialect']} backup; the configured database is "
            f"{dialect_of(database_url)}"
        )
    revision = backup.manifest.get("schema_revision")
    if revision is not None and revision not in known_revisions(migrations_dir):
        raise BackupError(
            f"the backup's schema ({revision}) is newer than this code knows: upgrade Asthron first"
        )
    if backup.manifest["dialect"] == "postgresql":
        missing = _extensions_wanted_but_unusable(database_url, archive_extensions(backup.path))
        if missing:
            names = ", ".join(sorted(missing))
            hint = " (pgvector, for dense retrieval)" if "vector" in missing else ""
            raise BackupError(
                f"the backup uses the PostgreSQL extension {names}{hint}, which this database "
                "does not have and its user may not create: install it on the server (as a "
                "superuser: CREATE EXTENSION in this database) and restore again (nothing was "
                "changed)"
            )


def restore(backup: Backup, engine: sa.Engine) -> None:
    """Replace the database's contents with the backup's (then migrate it up)."""
    url = engine.url.render_as_string(False)
    engine.dispose()
    if backup.manifest["dialect"] == "sqlite":
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{backup.path}?mode=ro", uri=True)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    pg_restore = pg_tool("pg_restore")
    _set_current_aside(engine)
    done = subprocess.run(
        [pg_restore, "--no-owner", "--single-transaction", "-d", libpq_url(url), str(backup.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        _put_current_back(engine)
        raise BackupError(
            f"pg_restore failed: {done.stderr.strip()[-300:]} (the database was left as it was)"
        )
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA asthron_before_restore CASCADE"))
    engine.dispose()


# Where the current schema's objects wait while a backup is restored: a restore failing
# halfway puts them back, rather than leaving an empty database (they used to be dropped
# first). Extensions stay where they are: their objects belong to whoever installed them
# (the superuser, for a trusted one like btree_gist), so the app's user may not move them,
# and the backup's objects expect them in the public schema. (The name is written out in the
# statements below: SQL is never formatted in Python, tests/security/test_classes.py.)
ASIDE_SCHEMA = "asthron_before_restore"

# The statements moving the :source schema's own objects, not an extension's (no 'e'
# dependency on one), to :target: relations (a sequence only when no column owns it, as an
# owned one moves with its table), stand-alone types and routines. PostgreSQL writes them,
# quoting every name with format's %I.
_MOVE_OWN_OBJECTS = """
SELECT format('ALTER %s %I.%I SET SCHEMA %I',
       CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
       WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       CAST(:source AS text), c.relname, CAST(:target AS text))
FROM pg_class c
WHERE c.relnamespace = CAST(:source AS regnamespace)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
           AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER %s %I.%I SET SCHEMA %I',
       CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
       CAST(:source AS text), t.typname, CAST(:target AS text))
FROM pg_type t
WHERE t.typnamespace = CAST(:source AS regnamespace) AND t.typtype IN ('e', 'd', 'r')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER ROUTINE %I.%I(%s) SET SCHEMA %I', CAST(:source AS text), p.proname,
       pg_get_function_identity_arguments(p.oid), CAST(:target AS text))
FROM pg_proc p
WHERE p.pronamespace = CAST(:source AS regnamespace)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
"""


def _move_own_objects(connection, source: str, target: str) -> None:
    statements = connection.scalars(
        sa.text(_MOVE_OWN_OBJECTS), {"source": source, "target": target}
    ).all()
    for statement in statements:
        connection.exec_driver_sql(statement)


def _set_current_aside(engine: sa.Engine) -> None:
    """Move the public schema's own objects aside, in one transaction: everything, a newer
    schema's additions too, so migrating up after the restore does not collide with them."""
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA IF EXISTS asthron_before_restore CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA asthron_before_restore"))
            _move_own_objects(connection, "public", ASIDE_SCHEMA)
    except sa.exc.DBAPIError as exc:
        raise BackupError(
            f"the current database could not be set aside for the restore (nothing was "
            f"changed): {exc.orig}"
        ) from None
    finally:
        engine.dispose()


def _put_current_back(engine: sa.Engine) -> None:
    """After a failed restore (pg_restore ran in one transaction: nothing of it stayed)."""
    with engine.begin() as connection:
        _move_own_objects(connection, ASIDE_SCHEMA, "public")
        connection.execute(sa.text("DROP SCHEMA asthron_before_restore"))
    engine.dispose()


def list_backups(directory: Path) -> list[Backup]:
    found = []
    for manifest_file in sorted(Path(directory).glob("*" + MANIFEST_SUFFIX)):
        try:
            manifest = json.loads(manifest_file.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
            path = manifest_file.with_name(str(manifest.get("file", "")))
            if path.is_file() and path.parent == manifest_file.parent:
                found.append(Backup(path, manifest))
    return sorted(found, key=lambda b: b.created_at, reverse=True)


def prune_plan(backups: list[Backup], keep_daily: int, keep_weekly: int) -> list[Backup]:
    """The backups to delete: all but the newest of each of the last ``keep_daily`` days and
    of each of the last ``keep_weekly`` ISO weeks that have one."""
    keep: set[Path] = set()
    days: set = set()
    weeks: set = set()
    for backup in backups:  # newest first
        day = backup.created_at.date()
        week = day.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.add(day)
            keep.add(backup.path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            keep.add(backup.path)
    return [b for b in backups if b.path not in keep]


def delete(backup: Backup) -> None:
    backup.path.unlink(missing_ok=True)
    backup.manifest_path.unlink(missing_ok=True)
