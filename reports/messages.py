"""Finding messages and evidence keys in the report language.

findings.json keeps each finding's ``message`` in English (the machine contract, what
SARIF, JUnit and CI annotations show). A report in another language renders the
message from the finding's ``code`` and its evidence with a template of this
catalogue, and names each evidence key with its label, so a Chinese report holds no
English sentence. Every code of every built-in kind has a template
(tests/reports/test_report_zh.py checks it against the registry); ``table_rule``
messages are the policy author's own words: shown in ``lang`` when the author wrote
them in it (``message: {en: …, zh: …}``, the finding's ``messages``), else as written.
"""

from __future__ import annotations

import re
import string
from typing import Any

from .safe import as_text

#: code (or ``kind/code`` where two kinds share a code) → Chinese template; fields: the
#: evidence keys, ``target`` (the subject without its type: ``erp:zhangsan``,
#: ``A-2021-0006``), ``person`` (person_id) and ``policy``
ZH: dict[str, str] = {
    # revoke_on_departure
    "enabled_after_departure": "{target}（{person}）于 {departure_date} 离职，账号仍处于启用状态"
                               "（宽限 {grace_days} 天，已逾期 {days_overdue} 天）",
    "late_revocation": "{target}（{person}）于 {departure_date} 离职，账号 {disabled_at} 才停用，晚了 {days_late} 天",
    "activity_after_departure": "{target}（{person}）于 {departure_date} 离职后仍被使用（最后一次 {last_activity}）",
    "archive_access_after_departure": "{person} 于 {departure_date} 离职后仍访问档案 {events} 次（{actions}）："
                                      "{archives}",
    "grants_on_disabled_account": "{target}（{person}）已停用，但仍保留 {role_count} 个角色：{roles}",
    # role_template
    "role_not_in_template": "{target}（岗位：{position}）持有岗位模板之外的角色：{roles}",
    "forbidden_permission": "{target}（岗位：{position}）经由 {via_roles} 持有本岗位禁止的权限：{permissions}",
    "required_role_missing": "{target}（岗位：{position}）缺少岗位必需的角色：{missing_roles}",
    "too_many_roles": "{target}（岗位：{position}）持有 {role_count} 个角色，超过上限 {max_roles}：{roles}",
    # retention_period
    "destroyed_early": "档案 {target}（{category}，{fiscal_year} 年度）于 {destroyed_at} 销毁；"
                       "保管期限 {retention}，可销毁日期 {destroyable_from}",
    "destroyed_on_hold": "档案 {target}（{category}，{fiscal_year} 年度）在冻结（未结清事项）期间"
                         "于 {destroyed_at} 销毁",
    "destruction_undocumented": "档案 {target}（{category}，{fiscal_year} 年度）于 {destroyed_at} 销毁，"
                                "无销毁清册或批准人",
    "destroyed_before_appraisal": "档案 {target}（{category}，{fiscal_year} 年度）于 {destroyed_at} 销毁，未经鉴定",
    "due_for_appraisal": "档案 {target}（{category}，{fiscal_year} 年度）自 {destroyable_from} 起保管期满，待鉴定",
    "unknown_category": "档案 {target}（{category}，{fiscal_year} 年度）的门类不在保管期限表中",
    # backup_frequency
    "no_successful_backup": "数据集 {target} 没有成功的备份",
    "backup_overdue": "数据集 {target} 最近一次成功备份在 {last_success}，已过去 {hours_since} 小时",
    "too_few_locations": "数据集 {target} 近期的成功备份只在 {locations} 个位置（{location_list}）",
    "no_offsite_copy": "数据集 {target} 近期没有成功的异地备份（现有位置：{location_list}）",
    "unencrypted_backup": "数据集 {target} 近期有 {unencrypted} 次未加密的成功备份",
    "backup_frequency/not_verified": "数据集 {target} 最近一次验证成功在 {last_verified}（{verified_days_ago} 天前）",
    "archive_integrity/not_verified": "档案 {target} 的文件未计算哈希，完整性未经验证（{path}）",
    "no_restore_test": "数据集 {target} 最近一次恢复测试在 {last_restore_test}（{restore_days_ago} 天前）",
    # segregation_of_duties
    "incompatible_duties": "{person} 同时持有不相容职责 {rule}「{rule_name}」的两端：{left_permissions} 与 "
                           "{right_permissions}",
    # change_approval
    "missing_request": "变更 {target}（{action} {role} → {system}:{account_id}）没有申请单号",
    "not_approved": "变更 {target}（{action} {role} → {system}:{account_id}）未经批准"
                    "（审批状态：{approval_status}，审批人：{approved_by}）",
    "approved_after_performed": "变更 {target}（{action} {role} → {system}:{account_id}）在执行（{performed_at}）"
                                "之后才批准（{approved_at}）",
    "approver_is_performer": "变更 {target}（{action} {role} → {system}:{account_id}）由执行人 {performed_by} 自行批准",
    "self_grant": "变更 {target}（{action} {role} → {system}:{account_id}）由 {performed_by} 对本人账号执行",
    "approver_position": "变更 {target}（{action} {role} → {system}:{account_id}）的批准人 {approved_by} "
                         "岗位为 {approver_position}，无权批准",
    # access_review
    "never_reviewed": "{target} 处于启用状态，但从未经过权限复核",
    "review_overdue": "{target} 最近一次复核在 {reviewed_at}，已过 {age_days} 天（上限 {max_age_days} 天）",
    # dormant_account
    "dormant": "{target} 自 {last_use} 起未登录，已 {idle_days} 天（上限 {max_idle_days} 天）",
    "never_used": "{target} 从未登录（创建于 {created_at}，上限 {max_idle_days} 天）",
    # orphan_account
    "no_person": "{target} 没有对应的人员（{account_type}账号）",
    "unknown_person": "{target} 的人员编号 {person_id} 不在人员名册中",
    "no_owner": "{target} 是没有负责人的{account_type}账号",
    "unknown_owner": "{target} 的负责人 {owner_person_id} 不在人员名册中",
    "owner_departed": "{target} 的负责人 {owner_person_id} 已离职",
    # privileged_mfa
    "privileged_without_mfa": "{target} 经由角色 {roles} 持有特权 {permissions}，但未启用多因素认证",
    # archive_integrity
    "hash_missing": "档案 {target} 没有记录归档哈希",
    "file_missing": "档案 {target} 的文件缺失（{path}）",
    "hash_mismatch": "档案 {target} 的文件哈希与归档时记录的不一致（{path}）",
    "format_not_allowed": "档案 {target} 的文件格式 {format} 不在允许的格式之列",
    "metadata_missing": "档案 {target} 缺少著录项：{missing_fields}",
    # change_approval: the second person's verification (复核)
    "not_verified": "变更 {target}（{action} {role} → {system}:{account_id}）于 {performed_at} 执行后，"
                    "{verify_within_days} 天内未经第二人核验",
    "verified_late": "变更 {target}（{action} {role} → {system}:{account_id}）由 {verified_by} 于 {verified_at} 核验，"
                     "距执行已 {days_to_verify} 天（时限 {verify_within_days} 天）",
    "verifier_is_performer": "变更 {target}（{action} {role} → {system}:{account_id}）由执行人 {performed_by} 自行核验",
    "verified_before_performed": "变更 {target}（{action} {role} → {system}:{account_id}）的核验时间 {verified_at} "
                                 "早于执行时间 {performed_at}",
    # unrecorded_change
    "grant_without_change": "{system}:{account_id} 的角色 {role} 于 {granted_at} 授予，变更记录中前后 "
                            "{tolerance_days} 天内没有相应的授权记录",
    "grant_appeared_without_change": "{system}:{account_id} 的角色 {role} 是上期快照之后新增的，没有已批准的授权变更",
    "account_enabled_without_change": "{system}:{account_id} 现为启用状态，上期快照中为「{previous_state}」，"
                                      "没有已批准的启用或新建变更",
    "grant_removed_without_revoke": "{system}:{account_id} 的角色 {role} 在上期快照之后被移除，没有收回授权"
                                    "（或删除账号）的记录",
    "previous_snapshot_missing": "未提供上期快照，两期之间新增、移除的授权和新启用的账号未作比对",
    # handover (会计工作交接: 移交人、接管人、监交人)
    "no_handover": "{person}（{event}日期 {event_at}）曾负责 {duties}，逾期未办理会计工作交接"
                   "（宽限 {grace_days} 天）",
    "late_handover": "{person} 于 {handed_over_at} 才办理交接，晚于{event}日期 {event_at} 加宽限 {grace_days} 天",
    "duty_gap": "{person}（{event}日期 {event_at}）负责的职责 {duty} 在 {check_day} 没有其他在职人员承接",
    "duty_overlap": "职责 {duty}：{person} 保留至 {leaver_until}，接管人 {to_person_id} 自 {receiver_from} 起"
                    "已经持有（重叠 {overlap_days} 天，上限 {overlap_limit} 天）",
    "signature_missing": "交接 {target}（{from_person_id} → {to_person_id}，{handed_over_at}）的移交清册缺少签章："
                         "{missing_signatures}",
    "supervisor_missing": "交接 {target}（{from_person_id} → {to_person_id}）没有监交人，"
                          "或监交人（{supervisor_id}）不在人员名册中",
    "supervisor_is_party": "交接 {target}（{from_person_id} → {to_person_id}）的监交人 {supervisor_id} 是交接当事人",
    "supervisor_position": "交接 {target}（{from_person_id} → {to_person_id}）的监交人 {supervisor_id} 岗位为 "
                           "{supervisor_position}，无权监交（可监交岗位：{supervisor_positions}）",
    "receiver_unknown": "交接 {target}（移交人 {from_person_id}）没有接管人，或接管人（{to_person_id}）不在人员名册中",
    "receiver_not_active": "交接 {target}（移交人 {from_person_id}）的接管人 {to_person_id} 状态为"
                           "「{receiver_status}」，不在职",
    "no_backup_before_handover": "交接 {target}（移交人 {person}，{handed_over_at}）前 {backup_within_days} 天内"
                                 "数据集 {dataset} 没有成功的备份（最近一次：{last_backup_before}）",
    # period_close_freeze
    "change_in_freeze": "变更 {target}（{action} {role} → {system}:{account_id}）在 {judged_on} 执行，处于期末结账"
                        "冻结期（{freeze_from} 至 {period_end}）内，且未标记为紧急变更",
    "handover_in_freeze": "交接 {target}（{from_person_id} → {to_person_id}）在 {judged_on} 办理，处于期末结账"
                          "冻结期（{freeze_from} 至 {period_end}）内，且未标记为紧急",
    # archive_content (四性检测: 真实性、完整性、可用性、安全性)
    "format_mismatch": "档案 {target}（{path}）按内容识别为 {format} 格式，与目录登记格式（{catalog_format}）"
                       "或扩展名（{extension}）不一致",
    "unreadable": "档案 {target}（{path}）无法按其格式解析：{read_error}",
    "encrypted": "档案 {target}（{path}）已加密",
    "nonpublic_compression": "档案 {target}（{path}）使用了非公开的压缩算法",
    "not_pdfa": "档案 {target}（{path}）为 {format} 文件，但未声明符合档案级长期保存格式",
    "unsigned": "档案 {target}（{path}）为须签名的 {format} 格式，但没有电子签名",
    "xml_missing": "档案 {target}（{path}）为电子发票版式文件，旁边没有同名的已签名结构化数据原件",
    "fixity_stale": "档案 {target}（{path}）最近一次复核固化信息在 {fixity_checked_at}，超过规定的复核周期",
    "unlisted_file": "档案存储目录中的文件 {target}（{size_bytes} 字节）未在档案目录中登记",
    # archive_completeness
    "period_missing": "{fiscal_year} 年度 {period} 的 {category} 未归档（{target}）",
    "id_duplicate": "档号 {target} 在 {rows} 条记录中重复使用（重号，全宗 {fonds}）",
    "id_pattern": "档号 {target} 不符合全宗 {fonds} 的档号编制规则 {pattern}",
    # voucher_continuity
    "voucher_gap": "凭证 {target} 断号 {count} 个：{missing}",
    "voucher_duplicate": "凭证 {target} 重号 {count} 个：{repeated}",
    # handover_batches (移交清册)
    "batch_count_mismatch": "移交批次 {target} 的移交清册登记 {declared_count} 件，实有 {actual_count} 件",
    "batch_bytes_mismatch": "移交批次 {target} 的移交清册登记 {declared_bytes} 字节，实有 {actual_bytes} 字节",
    "batch_unknown": "{actual_count} 件档案所属的移交批次 {target} 未在移交批次登记簿中登记",
    # archive_access, archive_borrowing (利用: 查阅、下载、打印、导出、借阅)
    "access_without_permission": "{actor} 于 {at} {action}档案 {archive_id}，当时未持有档案利用权限",
    "borrow_unapproved": "借阅登记 {target}（档案 {archive_id}，借阅人 {borrower}）未经审批",
    "borrow_self_approved": "借阅登记 {target}（档案 {archive_id}）由借阅人 {borrower} 自行审批",
    "borrow_overdue": "借阅登记 {target}（档案 {archive_id}，借阅人 {borrower}）应于 {due_at} 归还，至今未归还",
    "borrow_unregistered": "{actor} 于 {at} 借阅档案 {archive_id}，借阅登记簿中没有相应登记",
}

#: evidence key → Chinese label
ZH_EVIDENCE: dict[str, str] = {
    "departure_date": "离职日期", "enabled": "启用", "grace_days": "宽限天数", "days_overdue": "逾期天数",
    "last_login_at": "最后登录", "disabled_at": "停用时间", "days_late": "晚停用天数",
    "first_activity": "首次离职后活动", "last_activity": "最后活动", "login_events": "登录次数",
    "events": "访问次数", "last_access": "最后访问", "archives": "档案", "actions": "操作",
    "role_count": "角色数", "roles": "角色", "position": "岗位", "permissions": "权限", "via_roles": "来源角色",
    "missing_roles": "缺少的角色", "max_roles": "角色上限", "category": "门类", "fiscal_year": "年度",
    "retention": "保管期限", "destroyable_from": "可销毁日期", "status": "状态", "destroyed_at": "销毁时间",
    "hold": "冻结", "destruction_register_id": "销毁清册号", "destruction_approved_by": "销毁批准人",
    "appraised_at": "鉴定时间", "disposed_at": "资产处置日期", "last_success": "最近成功备份",
    "hours_since": "间隔小时", "locations": "位置数", "location_list": "位置", "window_backups": "期间备份次数",
    "offsite_copies": "异地备份次数", "unencrypted": "未加密次数", "last_verified": "最近验证",
    "verified_days_ago": "距上次验证天数", "last_restore_test": "最近恢复测试", "restore_days_ago": "距恢复测试天数",
    "rule": "规则", "rule_name": "规则名称", "left_permissions": "一端权限", "left_via": "一端来源",
    "right_permissions": "另一端权限", "right_via": "另一端来源", "accounts": "账号",
    "action": "操作", "system": "系统", "account_id": "账号", "role": "角色", "performed_by": "执行人",
    "performed_at": "执行时间", "request_id": "申请单号", "approved_by": "审批人", "approved_at": "审批时间",
    "approval_status": "审批状态", "target_person": "账号所属人员", "approver_position": "审批人岗位",
    "approver_positions": "可审批岗位", "created_at": "创建时间", "reviewed_at": "复核时间", "reviewer": "复核人",
    "decision": "复核结论", "age_days": "距复核天数", "max_age_days": "复核周期上限", "last_use": "最后使用",
    "idle_days": "闲置天数", "max_idle_days": "闲置上限", "person_id": "人员编号", "account_type": "账号类型",
    "owner_person_id": "负责人编号", "owner_status": "负责人状态", "mfa_enabled": "多因素认证", "path": "文件路径",
    "format": "文件格式", "sha256": "归档哈希", "actual_sha256": "实际哈希", "file_exists": "文件存在",
    "missing_fields": "缺少的著录项", "change": "变更序号", "change_id": "变更单号", "matched_rows": "匹配行数",
    "display_name": "显示名",
    "verified_by": "核验人", "verified_at": "核验时间", "verify_within_days": "核验时限天数",
    "days_to_verify": "执行至核验天数", "granted_at": "授予时间", "granted_by": "授予人", "tolerance_days": "容差天数",
    "previous_state": "上期快照状态", "handover_id": "交接编号", "from_person_id": "移交人", "to_person_id": "接管人",
    "supervisor_id": "监交人", "handed_over_at": "交接时间", "signed_by_from": "移交人签章",
    "signed_by_to": "接管人签章", "signed_by_supervisor": "监交人签章", "missing_signatures": "缺少的签章",
    "supervisor_position": "监交人岗位", "supervisor_positions": "可监交岗位", "receiver_status": "接管人状态",
    "scope": "交接范围", "backup_id": "备份编号", "dataset": "数据集", "last_backup_before": "交接前最近备份",
    "backup_within_days": "备份时限天数", "event": "事件", "event_at": "事件日期", "duties": "所负职责",
    "duty": "职责", "check_day": "检查日期", "receiver_from": "接管人持有起始", "leaver_until": "移交人持有至",
    "overlap_days": "重叠天数", "overlap_limit": "重叠上限天数", "emergency": "紧急", "judged_on": "判定日期",
    "freeze_from": "冻结期起", "period_end": "期末日", "archive_id": "档号", "actor": "操作人", "at": "时间",
    "borrower": "借阅人", "borrowed_at": "借出时间", "due_at": "应还日期", "returned_at": "归还时间",
    "fonds": "全宗", "account_set": "账套", "period": "期间", "rows": "记录数", "pattern": "档号规则",
    "catalog_format": "目录登记格式", "extension": "扩展名", "read_error": "解析错误", "encrypted": "加密",
    "pdfa": "档案级格式声明", "signed": "电子签名", "fixity_checked_at": "固化信息复核时间", "size_bytes": "字节数",
    "voucher_type": "凭证字", "voucher_no": "凭证号", "missing": "断号", "repeated": "重号", "count": "个数",
    "expires_at": "到期时间", "systems_with_role": "设有该角色的系统", "declared_count": "清册件数",
    "actual_count": "实有件数", "declared_bytes": "清册字节数", "actual_bytes": "实有字节数",
}

_ZH_VALUES = {True: "是", False: "否", None: "无"}
#: the words of the closed vocabularies that evidence carries, in Chinese
ZH_WORDS: dict[str, str] = {
    "grant": "授权", "revoke": "收回", "enable": "启用", "disable": "停用", "create": "新建", "delete": "删除",
    "modify": "修改", "personal": "个人", "shared": "共享", "service": "服务", "admin": "管理员",
    "active": "在库", "destroyed": "已销毁", "transferred": "已移交", "departed": "已离职", "leave": "休假",
    "approved": "已批准", "pending": "待批准", "rejected": "已驳回", "keep": "保留", "permanent": "永久",
    "view": "查看", "download": "下载", "print": "打印", "export": "导出", "borrow": "借阅",
    "departure": "离职", "transfer": "调岗", "enabled": "启用", "disabled": "停用", "absent": "不存在",
    "the person handing over": "移交人", "the receiver": "接管人", "the supervisor": "监交人",
}


_YEARS = re.compile(r"^(\d+) years?(?: from (\w+))?$")
_PERIOD = re.compile(r"^(?:M(0[1-9]|1[0-2])|Q([1-4])|Y)$")  # scanner/kinds/periods.py labels
_INSTANT = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?$")


def _zh_text(value: str) -> str:
    """Evidence text in Chinese: vocabulary words (also in comma lists), retention
    periods, accounting period labels (``M03`` 3月, ``Q1`` 第1季度, ``Y`` 全年) and
    instants as ``2026-11-26 08:25`` (every time is in the snapshot zone)."""
    if value in ZH_WORDS:
        return ZH_WORDS[value]
    parts = value.split(", ")
    if len(parts) > 1 and all(p in ZH_WORDS for p in parts):
        return "、".join(ZH_WORDS[p] for p in parts)
    if m := _YEARS.match(value):
        return f"{m.group(1)} 年" + (f"（自{ZH_EVIDENCE.get(m.group(2), m.group(2))}起算）" if m.group(2) else "")
    if m := _PERIOD.match(value):
        return f"{int(m.group(1))}月" if m.group(1) else f"第{m.group(2)}季度" if m.group(2) else "全年"
    if m := _INSTANT.match(value):
        return f"{m.group(1)} {m.group(2)}"
    return value


def _value(value: Any, lang: str) -> str:
    if lang == "zh" and (value is None or isinstance(value, bool)):
        return _ZH_VALUES[value]
    if lang == "zh" and isinstance(value, str):
        return _zh_text(value)
    if isinstance(value, list | tuple):
        if lang == "zh":  # a list of vocabulary words in Chinese, as a comma list is (names stay)
            words = all(isinstance(v, str) and v in ZH_WORDS for v in value)
            return "、".join(ZH_WORDS[v] if words else as_text(v) for v in value)
        return ", ".join(as_text(v) for v in value)
    return as_text(value)


class _Fields(dict):
    """Template fields; a key the finding lacks renders as the empty-value word."""

    def __init__(self, values: dict[str, Any], lang: str) -> None:
        super().__init__(values)
        self.lang = lang

    def __missing__(self, key: str) -> str:
        return _value(None, self.lang)


def message(finding: dict[str, Any], lang: str) -> str:
    """The finding's message in ``lang``: the one its policy's author wrote in that language
    (table_rule), else the catalogue's template, else its own message."""
    own = finding.get("messages")
    if isinstance(own, dict) and isinstance(own.get(lang), str):
        return as_text(own[lang])
    kind, code = finding.get("kind"), finding.get("code") or ""
    template = ZH.get(f"{kind}/{code}", ZH.get(code)) if lang == "zh" and kind != "table_rule" else None
    if template is None:
        return as_text(finding.get("message"))
    evidence = finding.get("evidence") if isinstance(finding.get("evidence"), dict) else {}
    subject = as_text(finding.get("subject"))
    fields = {k: _value(v, lang) for k, v in evidence.items()}
    fields.update(target=subject.split(":", 1)[1] if ":" in subject else subject,
                  person=as_text(finding.get("person_id") or (subject.split(":", 1)[1]
                                                               if subject.startswith("person:") else "")),
                  policy=as_text(finding.get("policy_id")))
    return string.Formatter().vformat(template, (), _Fields(fields, lang))


def evidence_key(key: str, lang: str) -> str:
    return ZH_EVIDENCE.get(key, key) if lang == "zh" else key


def evidence_value(value: Any, lang: str) -> str:
    return _value(value, lang)
