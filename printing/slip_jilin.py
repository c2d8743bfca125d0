"""The Jilin slip: the 省内 layout of `printing.slip_guangdong` with Jilin's own title and 备注.

Jilin publishes no slip form (吉人社联〔2024〕76号 names its forms 《工伤保险省内异地就医…》, 002 附件1–3),
so the counter prints the 省内 form it already has — grid, money table, 备注 column with
省内异地就医 — under a title in Jilin's words, and notes that state Jilin's rules rather than
Guangdong's (no 粤人社规 wording on a Jilin slip).
"""

from __future__ import annotations

from app.slips import PAPER_A4, SlipData
from printing.slip_guangdong import Form, render_form

NAME = "jilin"
DESCRIPTION = "工伤保险省内异地就医费用结算单（吉林，吉人社联〔2024〕76号；省内结算单版式）"

TITLE = "工伤保险省内异地就医费用结算单"

NOTES = (
    # 002 §19 (管理办法), 经办规程 §20: what the fund does not pay.
    "1.治疗非工伤所发生的费用，就医中发生的超标准超目录范围和不符合诊疗常规的费用，工伤保险基金不予支付。",
    # 002 经办规程 §20: the treatment place's catalogues include the 住院服务标准.
    "2.表中“诊疗项目”含住院服务标准费用。",
    # 002 经办规程 §20: 省内异地就医 settles by the treatment place's catalogues and limits.
    "3.“备注”栏为省内异地就医的，指本省其他统筹地区参保的工伤职工经备案在本协议机构就医，"
    "执行就医地目录直接结算的费用；超出目录规定范围及支付限额的费用，工伤保险基金不予支付。",
    "4.此表由协议机构打印，一式两份，协议机构、工伤职工各执一份。",
)

JILIN = Form(TITLE, NOTES)


def render(data: SlipData, paper: str = PAPER_A4) -> bytes:
    """The two copies of the slip as PDF bytes, on A4 (one sheet) or A5 landscape (two sheets)."""
    return render_form(JILIN, data, paper)
