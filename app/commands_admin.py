"""`wi-counter audit verify` and `wi-counter db backup [--out FILE]` / `db restore FILE`.

Registered in `app.cli`: `register(command, action)` adds the `audit` group,
`register_db(db_commands, action)` adds backup and restore to the `db` group.
Exit 0 done (audit: the trail is intact), 1 refused or a problem found (on stderr, in Chinese).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(command: Callable[[str, str, Handler], argparse.ArgumentParser],
             action: Callable[[Any, str, str, Handler], argparse.ArgumentParser]) -> None:
    audit = command("audit", "审计日志 / the audit trail", _audit_help)
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    action(actions, "verify",
           "校验审计日志的哈希链：找出被修改、删除的记录 / verify the hash chain: find edited or deleted entries",
           verify_command)


def register_db(db_commands: Any, action: Callable[[Any, str, str, Handler], argparse.ArgumentParser]) -> None:
    backup = action(db_commands, "backup",
                    "备份 SQLite 数据库（在线备份，仅本用户可读）；PostgreSQL 给出 pg_dump 用法"
                    " / back up the SQLite database (online, user-only); pg_dump instructions for PostgreSQL",
                    backup_command)
    backup.add_argument("--out", type=Path, metavar="FILE",
                        help="备份文件，默认放在备份文件夹并带时间 / backup file, default: timestamped in the backups folder")
    restore = action(db_commands, "restore",
                     "用备份恢复 SQLite 数据库（先检查备份、备份当前库，需要时升级结构）"
                     " / restore the SQLite database from a backup (checked; the current one backed up first; migrated)",
                     restore_command)
    restore.add_argument("file", type=Path, metavar="FILE", help="备份文件 / backup file")
    from app.commands_identity import add_operator_options

    add_operator_options(restore, "管理员登录名（须输入密码，记入审计日志） / administrator login (password asked for; audited)")


def _audit_help(args: argparse.Namespace) -> int:
    print("用法 / usage: wi-counter audit verify", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace, run_migrations: bool = True, check_database: bool = True) -> Any:
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db, run_migrations=run_migrations,
                        check_database=check_database)


def _centre_anchors(context: Any) -> tuple[list[Any] | None, str]:
    """The audit heads the centre keeps for this institution (3201's `audit_anchors`), or None and why not."""
    from app.audit import CentreAnchor
    from app.centre import wire
    from app.centre.client import open_centre
    from app.errors import WiCounterError

    try:
        client = open_centre(context, appliers={})
        try:
            totals = client.daily_totals(wire.now().date())
        finally:
            client.close()
    except WiCounterError as exc:
        return None, exc.message
    except OSError as exc:  # the call log's or the TLS files' trouble: still not a check
        return None, f"本机文件或网络出错（{exc.strerror or exc.__class__.__name__}）"
    return [CentreAnchor(a.counter, a.count, a.mac, a.received) for a in totals.audit_anchors], ""


def verify_command(args: argparse.Namespace) -> int:
    """Exit 0 intact (checked against the centre's anchors too), 1 a problem, 3 none found here but the
    centre's anchors could not be checked (issue 22 §4: not called intact)."""
    from app.audit import AUDIT_KEY_RESTORE_HINT, check_anchor, check_centre_anchors, note_anchor, verify_trail

    context = _open(args)
    try:
        config_dir, database = context.paths.config_dir, context.database_description
        anchors, why_not = _centre_anchors(context)
        with context.sessions() as session:
            report = verify_trail(session)
            report.problems.extend(check_anchor(session, config_dir, database))
            superseded = 0
            if anchors is not None:
                centre_problems, superseded = check_centre_anchors(session, anchors)
                report.problems.extend(centre_problems)
        note_anchor(config_dir, database, report)  # only an intact, keyed trail's head
    finally:
        context.close()
    print(f"已校验 / checked: {report.checked} 条审计记录 / entries")
    print(f"链头 / head: {report.head_hash}（{report.head_count if report.head_count is not None else '?'} 条 / entries）")
    if report.keyed_from is not None:
        print(f"从记录 {report.keyed_from} 起以审计密钥签名（HMAC-SHA256）"
              + (f"，之前 {report.unkeyed_before} 条为未加密钥的旧链（SHA-256）" if report.unkeyed_before else "")
              + f" / keyed with the audit key from entry {report.keyed_from}")
    elif report.checked:
        print("审计日志尚未以审计密钥签名（旧式 SHA-256 链）/ the trail is not keyed yet")
    if anchors is not None:
        print(f"已与结算中心保存的 {len(anchors)} 个链头核对（日结时发送） / checked against the centre's anchors"
              + (f"；其中 {superseded} 个属于被管理员恢复备份所替换的日志（恢复已记入审计） / "
                 f"{superseded} of a trail replaced by an audited restore" if superseded else ""))
    if report.intact:
        if report.keyed_from is not None and not report.key_missing:
            print("已记下链头（配置文件夹，带日期），以后的校验与之比较 / head anchored in the config folder")
        if anchors is None:
            print(f"未能与结算中心保存的链头核对：{why_not}。本机记录未发现问题，但不能断定审计日志未被改写；"
                  "请在结算中心可连通时再校验 / could not check the centre's anchors: not called intact")
            return 3
        print("审计日志完整 / the audit trail is intact")
        return 0
    for problem in report.problems:
        where = f"记录 / entry {problem.event_id}：" if problem.event_id is not None else ""
        print(f"问题 / problem: {where}{problem.message}", file=sys.stderr)
    print(f"审计日志不完整：发现 {len(report.problems)} 处问题 / the audit trail has been tampered with",
          file=sys.stderr)
    if report.key_missing and report.keyed_from is not None:
        print(AUDIT_KEY_RESTORE_HINT, file=sys.stderr)
    return 1


def _head_of(context: Any) -> dict[str, Any] | None:
    """The audit trail's head before a restore replaces it (None: a damaged or older database without one)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db.models import AuditHead

    try:
        with context.sessions() as session:
            head = session.get(AuditHead, 1)
            return None if head is None else {"last_event_id": head.last_event_id, "last_hash": head.last_hash,
                                              "event_count": head.event_count}
    except SQLAlchemyError:
        return None


def backup_command(args: argparse.Namespace) -> int:
    from app.db import backup

    context = _open(args, run_migrations=False)
    try:
        if backup.sqlite_file(context.engine) is None:
            print(backup.postgres_instructions(context.engine))
            return 0
        target = backup.backup(context.engine, context.paths.backup_dir, args.out)
    finally:
        context.close()
    print(f"已备份 / backed up: {target}")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    from app.audit import forget_anchor
    from app.commands_identity import admin_signed_in, audit_admin
    from app.db import backup, migrate
    from app.operators import Permission
    from app.settings import BACKUP_KEEP

    # Not migrated on opening: the current file is backed up as it is, then replaced. Not checked
    # either: a restore is what the start-up check tells IT to do with a missing or damaged file.
    context = _open(args, run_migrations=False, check_database=False)
    try:
        if backup.sqlite_file(context.engine) is None:
            print(backup.postgres_instructions(context.engine))
            return 0
        # Replacing the database is the administrator's (signed in on the database being replaced), and
        # audited in the restored one. Its operators are the backup's own: the administrator is named, not
        # linked by id. A refused file changes nothing, so nothing is written before the restore.
        actor = admin_signed_in(context, args, Permission.CHANGE_SETTINGS) \
            if migrate.current_revision(context.engine) is not None else None
        previous_head = _head_of(context)
        result = backup.restore(context.engine, args.file, context.paths.backup_dir, context.settings.get(BACKUP_KEEP))
        # The trail now is the backup's: the head it replaced goes into the audit, and the anchor noted for the
        # replaced trail is dropped (the next `audit verify` notes the restored one).
        audit_admin(context, None, "db_restored", "database", context.database_description,
                    {"file": str(args.file), "admin": actor.login if actor is not None else None,
                     "safety_backup": str(result.safety_backup), "previous_head": previous_head})
        forget_anchor(context.paths.config_dir, context.database_description)
    finally:
        context.close()
    print(f"恢复前的数据库已备份 / the database before restoring: {result.safety_backup}")
    print(f"已从 {result.restored_from} 恢复 / restored")
    if result.migrated:
        print(f"数据库结构 / schema: {result.backup_revision} → {result.revision}")
    return 0
