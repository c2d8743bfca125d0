"""`wi-counter charges import STAY_ID FILE [--mapping NAME]`, `charges map HIS_CODE CODE|--self-pay`,
`charges upload STAY_ID|--all`, `charges mappings`, `charges catalogue [--sync]`: the stay's charge lines.

The handlers import the services lazily.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import CommandLine, add_operator_options, centre_client, open_context, signed_in, usage


def register(cli: CommandLine) -> None:
    cli.group("charges", "住院费用明细：导入 HIS 导出文件、目录对照 / the stay's charge lines",
              usage("wi-counter charges {import,map,upload,mappings,catalogue}"))
    importing = cli.action("charges", "import",
                           "导入 HIS 费用明细（CSV：UTF-8 或 GBK；XLSX）；有问题的行全部列出，文件无误才导入"
                           " / import a HIS export (CSV UTF-8/GBK, XLSX); every bad row listed, nothing imported until clean",
                           import_command)
    importing.add_argument("stay_id", type=int, metavar="STAY_ID", help="住院登记编号 / stay id")
    importing.add_argument("file", type=Path, metavar="FILE", help="HIS 导出文件 / the HIS export")
    importing.add_argument("--mapping", metavar="NAME",
                           help="列映射名称（见 docs/his-import.md），默认取设置 his.mapping / column mapping name, "
                                "default: the setting his.mapping")
    add_operator_options(importing)
    mapping = cli.action("charges", "map",
                         "把 HIS 项目编码对照到目录编码（或确认为目录外自费），并重新对照未上传的明细"
                         " / map a HIS code to a catalogue code (or confirm it is outside the catalogue)",
                         map_command)
    mapping.add_argument("his_code", metavar="HIS_CODE", help="HIS 项目编码 / the hospital's item code")
    target = mapping.add_mutually_exclusive_group(required=True)
    target.add_argument("catalogue_code", nargs="?", metavar="CATALOGUE_CODE", help="目录编码 / catalogue code")
    target.add_argument("--self-pay", action="store_true",
                        help="确认为目录外项目（自费，须告知患者） / confirmed outside the catalogue (self-pay)")
    mapping.add_argument("--note", default="", help="备注 / note")
    add_operator_options(mapping)
    uploading = cli.action("charges", "upload",
                           "把已对照、已分类的明细上传结算中心（住院期间；每日上传可用计划任务执行 --all）"
                           " / upload the final lines during the stay (a scheduled task runs --all daily)",
                           upload_command)
    which = uploading.add_mutually_exclusive_group(required=True)
    which.add_argument("stay_id", type=int, nargs="?", metavar="STAY_ID", help="住院登记编号 / stay id")
    which.add_argument("--all", action="store_true", help="所有在院患者 / every stay in hospital")
    add_operator_options(uploading)
    cli.action("charges", "mappings", "列出可用的 HIS 列映射 / list the column mappings", mappings_command)
    catalogue = cli.action("charges", "catalogue",
                           "本地目录：版本和条目数；--sync 从结算中心下载更新 / the local catalogue; --sync downloads "
                           "what changed from the centre", catalogue_command)
    catalogue.add_argument("--sync", action="store_true", help="从结算中心更新目录 / update from the centre")


def import_command(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.settings import HIS_MAPPING
    from app.workflow.his_import import HisFileInvalid, import_his_file, load_mapping, read_his_file

    context = open_context(args)
    try:
        mapping = load_mapping(args.mapping or context.settings.get(HIS_MAPPING), context.paths.config_dir)
        try:
            parsed = read_his_file(args.file, mapping)
            actor = signed_in(context, args, Permission.IMPORT_CHARGES)
            with context.transaction() as session:
                result = import_his_file(session, args.stay_id, parsed, actor, context.counter_name, mapping.name)
        except HisFileInvalid as exc:
            print(f"错误：HIS 文件 {exc.file_name} 有 {len(exc.problems)} 处问题，未导入任何明细：", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem.describe()}", file=sys.stderr)
            return 2
    finally:
        context.close()
    print(f"已导入 / imported: 文件 {result.rows} 行，新增 {result.added} 条，已有 {result.already_present} 条，"
          f"未对照 {result.unmatched} 条 (import #{result.import_id})")
    for warning in result.differing:
        print(f"  注意：{warning.describe()}")
    return 0


def map_command(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.workflow.code_map import set_mapping

    context = open_context(args)
    try:
        actor = signed_in(context, args, Permission.IMPORT_CHARGES)
        with context.transaction() as session:
            code = None if args.self_pay else args.catalogue_code
            changed = set_mapping(session, actor, context.counter_name, args.his_code, code, args.note)
    finally:
        context.close()
    target = "目录外（自费）" if code is None else code
    print(f"{args.his_code} → {target}：重新对照 {changed} 条明细 / {changed} lines re-matched")
    return 0


def upload_command(args: argparse.Namespace) -> int:
    """Lines up during the stay (issue 25): one stay, or every stay in hospital (the daily run)."""
    from app.centre.gateway import CentreError
    from app.operators import Permission
    from app.workflow.line_upload import upload_open_stays, upload_ready_lines

    context = open_context(args)
    try:
        actor = signed_in(context, args, Permission.IMPORT_CHARGES)
        client = centre_client(context, actor)
        try:
            if args.all:
                done = upload_open_stays(context, client, actor)
            else:
                try:
                    result = upload_ready_lines(context, client, args.stay_id, actor)
                except CentreError as exc:
                    print(f"错误：上传未完成：{exc.message}", file=sys.stderr)
                    return 2
                done = [(args.stay_id, f"上传 {result.sent} 条" + (f"，{result.waiting} 条待定" if result.waiting
                                                                   else ""))]
        finally:
            client.close()
    finally:
        context.close()
    for stay_id, outcome in done:
        print(f"住院 {stay_id}：{outcome}")
    if not done:
        print("没有待上传的明细 / nothing to upload")
    return 0


def mappings_command(args: argparse.Namespace) -> int:
    from app.workflow.his_import import load_mapping, mapping_names

    context = open_context(args)
    try:
        config = context.paths.config_dir
        for name in mapping_names(config):
            mapping = load_mapping(name, config)
            print(f"{name}\t{mapping.title}\t{mapping.source}")
    finally:
        context.close()
    return 0


def catalogue_command(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from app.db.models import CatalogueItem
    from app.workflow.catalogue import local_version, sync_catalogue

    context = open_context(args)
    try:
        if args.sync:
            client = centre_client(context)
            try:
                changed = sync_catalogue(context, client)
            finally:
                client.close()
            print(f"目录已更新 / catalogue updated: {changed} 条变更 / entries changed")
        with context.transaction() as session:
            version = local_version(session)
            valid = session.scalar(select(func.count()).select_from(CatalogueItem).where(CatalogueItem.valid.is_(True)))
    finally:
        context.close()
    print(f"本地目录版本 / local version {version}：有效条目 / valid entries {valid}")
    return 0
