"""`wi-counter db upgrade|downgrade|current|backup|restore|restore-check` and `wi-counter audit verify`.

The database's schema (Alembic), its backup and checked restore (issue 9) and the check against the
centre owed after a restore (issue 21 B2); the audit trail's hash chain. `register_db` adds the `db`
group, `register_audit` the `audit` group (later in the command list).
Exit 0 done (audit: the trail is intact), 1 refused or a problem found (on stderr, in Chinese).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli.common import (
    CommandLine,
    add_operator_options,
    admin_if_ready,
    admin_signed_in,
    audit_admin,
    centre_client,
    open_context,
    signed_in,
    usage,
)

ADMIN_HELP = "管理员登录名（须输入密码，记入审计日志） / administrator login (password asked for; audited)"


def register_db(cli: CommandLine) -> None:
    cli.group("db", "数据库维护 / database maintenance", usage("wi-counter db {upgrade,downgrade,current,backup,restore}"))
    up = cli.action("db", "upgrade", "升级数据库结构（先备份 SQLite） / migrate the schema (SQLite backed up first)", _db_upgrade)
    up.add_argument("revision", nargs="?", default="head", help="目标版本，默认最新 / target revision, default head")
    down = cli.action("db", "downgrade", "降级数据库结构 / migrate the schema down", _db_downgrade)
    down.add_argument("revision", help="目标版本（base 为空库） / target revision (base: empty)")
    add_operator_options(down, ADMIN_HELP)
    cli.action("db", "current", "显示数据库结构版本 / show the schema revision", _db_current)
    backup = cli.action("db", "backup",
                        "备份 SQLite 数据库（在线备份，仅本用户可读）；PostgreSQL 给出 pg_dump 用法"
                        " / back up the SQLite database (online, user-only); pg_dump instructions for PostgreSQL",
                        backup_command)
    backup.add_argument("--out", type=Path, metavar="FILE",
                        help="备份文件，默认放在备份文件夹并带时间 / backup file, default: timestamped in the backups folder")
    restore = cli.action("db", "restore",
                         "用备份恢复 SQLite 数据库（先检查备份、备份当前库，需要时升级结构）"
                         " / restore the SQLite database from a backup (checked; the current one backed up first; migrated)",
                         restore_command)
    restore.add_argument("file", type=Path, metavar="FILE", help="备份文件 / backup file")
    add_operator_options(restore, ADMIN_HELP)
    check = cli.action("db", "restore-check",
                       "恢复备份后与结算中心核对（备份之后中心办理的登记、结算）；审核员确认差异后才能继续办理"
                       " / after a restore: what the centre holds since the backup; a reviewer acknowledges the differences",
                       restore_check_command)
    check.add_argument("--acknowledge", metavar="NOTE",
                       help="审核员确认已查看并处理差异（写明如何处理，记入审计日志） / reviewer: acknowledge, with a note")
    check.add_argument("--restored", metavar="FILE",
                       help="管理员：数据库已在本程序之外恢复（如 pg_restore），记下所用备份并与中心核对"
                            " / administrator: the database was restored outside the program (pg_restore); check it")
    add_operator_options(check)


def register_audit(cli: CommandLine) -> None:
    cli.group("audit", "审计日志 / the audit trail", usage("wi-counter audit verify"))
    cli.action("audit", "verify",
               "校验审计日志的哈希链：找出被修改、删除的记录 / verify the hash chain: find edited or deleted entries",
               verify_command)


def _db_upgrade(args: argparse.Namespace) -> int:
    from app.db import migrate
    from app.settings import BACKUP_KEEP

    context = open_context(args, run_migrations=False)
    try:
        result = migrate.upgrade(
            context.engine, args.revision, backup_dir=context.paths.backup_dir, keep=context.settings.get(BACKUP_KEEP),
            kind="demo" if args.demo else "site",
        )
    finally:
        context.close()
    if result.backup is not None:
        print(f"已备份 / backed up: {result.backup}")
    if result.changed:
        print(f"数据库结构 / schema: {result.from_revision or '空库 empty'} → {result.to_revision}")
    else:
        print(f"数据库结构已是最新 / schema already at {result.to_revision}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from app.db import migrate

    from app.operators import Permission

    context = open_context(args, run_migrations=False)
    try:
        # Dropping tables (the audit trail's among them) is the administrator's, audited before it happens.
        actor = admin_if_ready(context, args, Permission.CHANGE_SETTINGS)
        if actor is not False:
            audit_admin(context, actor, "db_downgrade", "database", context.database_description,
                                          {"from": migrate.current_revision(context.engine), "to": args.revision})
        result = migrate.downgrade(context.engine, args.revision)
    finally:
        context.close()
    print(f"数据库结构 / schema: {result.from_revision} → {result.to_revision or 'base（空库 empty）'}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from app.db import migrate

    context = open_context(args, run_migrations=False)
    try:
        current = migrate.current_revision(context.engine)
        head = migrate.head_revision()
        print(f"{context.database_description}: {current or 'base（空库 empty）'}（最新 / head {head}）")
    finally:
        context.close()
    return 0


def _centre_anchors(context: Any) -> tuple[list[Any] | None, str]:
    """The audit heads the centre keeps for this institution (3201's `audit_anchors`), or None and why not."""
    from app.audit import CentreAnchor
    from app.centre import wire
    from app.composition import open_bare_centre
    from app.errors import WiCounterError

    try:
        client = open_bare_centre(context)
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

    context = open_context(args)
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

    context = open_context(args, run_migrations=False)
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
    from app import audit
    from app.audit import forget_anchor
    from app.db import backup, migrate
    from app.operators import Permission
    from app.settings import BACKUP_KEEP
    from app.workflow.restore_check import note_restore

    # Not migrated on opening: the current file is backed up as it is, then replaced. Not checked
    # either: a restore is what the start-up check tells IT to do with a missing or damaged file.
    context = open_context(args, run_migrations=False, check_database=False)
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
        # The restored books know nothing done after the backup: a check against the centre is owed
        # (issue 21 B2), written with the restore's audit entry so neither is without the other.
        with context.transaction() as session:
            audit.record(session, "db_restored", operator_id=None, counter_name=context.counter_name,
                         entity_type="database", entity_id=context.database_description,
                         detail={"file": str(args.file), "admin": actor.login if actor is not None else None,
                                 "safety_backup": str(result.safety_backup), "previous_head": previous_head})
            note_restore(session, str(args.file))
        forget_anchor(context.paths.config_dir, context.database_description)
        print(f"恢复前的数据库已备份 / the database before restoring: {result.safety_backup}")
        print(f"已从 {result.restored_from} 恢复 / restored")
        if result.migrated:
            print(f"数据库结构 / schema: {result.backup_revision} → {result.revision}")
        _reconcile_restored(context, None)
    finally:
        context.close()
    return 0


def _reconcile_restored(context: Any, actor: Any) -> Any:
    """Ask the centre what it holds since the backup; print the outcome. None: not reached (work waits)."""
    from app.centre.gateway import CentreError
    from app.errors import WiCounterError
    from app.workflow.restore_check import reconcile

    try:
        client = centre_client(context, actor)
        try:
            report = reconcile(context, client, actor)
        finally:
            client.close()
    except (CentreError, WiCounterError) as exc:
        print(f"未能与结算中心核对（{exc.message}）。核对完成并经审核员确认前，本机不能办理入院登记和结算；"
              "中心可连接后运行 wi-counter db restore-check。"
              " / not reconciled with the centre: admission and settlement wait for it", file=sys.stderr)
        return None
    _print_report(report)
    return report


def _print_report(report: Any) -> None:
    from app.workflow.restore_check import difference_count

    if report is None:
        return
    if report.status == "clear":
        print("已与结算中心核对：备份之后中心没有本机账目中缺少的登记或结算，结算单存档也都有打印记录，可以继续办理。"
              " / reconciled with the centre: nothing missing")
        return
    print(f"与结算中心和结算单存档核对，有 {difference_count(report.differences)} 处本机账目中没有或不一致的登记、结算、结算单"
          " / differences with the centre and the slip archive:")
    for difference in report.differences:
        print(f"  - {difference['message']}")
    if report.status == "differences":
        print("审核员查看并在结算中心处理后，用 wi-counter db restore-check --acknowledge 说明 确认；"
              "确认之前本机不能办理入院登记和结算。 / a reviewer must acknowledge before new work")
    else:
        print("审核员已确认这些差异。 / acknowledged by a reviewer")


def _note_external_restore(context: Any, actor: Any, file: str) -> None:
    """A restore done outside the program (pg_restore): the administrator says so, and the check is owed."""
    from app import audit
    from app.workflow.restore_check import note_restore

    with context.transaction() as session:
        check = note_restore(session, file)
        audit.record(session, "db_restored_externally", operator_id=actor.id, counter_name=context.counter_name,
                     entity_type="restore_check", entity_id=check.id, detail={"file": file})


def restore_check_command(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.workflow.restore_check import acknowledge, latest

    context = open_context(args)
    try:
        permission = Permission.CHANGE_SETTINGS if args.restored else Permission.RECONCILE if args.acknowledge else None
        actor = signed_in(context, args, permission)
        if args.restored:
            _note_external_restore(context, actor, args.restored)
        with context.transaction() as session:
            report = latest(session)
        if report is None:
            print("本数据库没有从备份恢复过，无需核对。 / never restored: nothing to check")
            return 0
        if report.status == "pending":
            report = _reconcile_restored(context, actor)
            if report is None:
                return 1
        elif not args.acknowledge:
            _print_report(report)
        if args.acknowledge:
            report = acknowledge(context, actor, args.acknowledge)
            from app.workflow.restore_check import difference_count

            print(f"已确认恢复核对的 {difference_count(report.differences)} 处差异，可以继续办理；中心已有的住院号不能再次登记。"
                  " / acknowledged")
    finally:
        context.close()
    return 0 if report.status in ("clear", "acknowledged") else 1
