"""The slip templates, by name. A region's slip is one module; adding one is a new file here.

Each template module exposes `NAME`, `DESCRIPTION` and `render(data: SlipData, paper: str) -> bytes`
and prints the same `app.slips.SlipData`: the Guangdong slip (`003 附表3`), Jilin's (the same 省内
layout, its own title and 备注) and the cross-province 工伤保险跨省异地就医费用结算单 of Beijing and
the national pilot (`001 §35`, laid out after `004 附件6`). What they share is `printing.slip_layout`.
The stay's policy profile picks the template (`slip_template`), carried by `SlipData.template`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.errors import ConfigurationError
from app.slips import PAPER_A4, SlipData
from printing import slip_cross_province, slip_guangdong, slip_jilin


@dataclass(frozen=True)
class SlipTemplate:
    name: str
    description: str
    render: Callable[[SlipData, str], bytes]


_MODULES = (slip_guangdong, slip_jilin, slip_cross_province)

TEMPLATES: dict[str, SlipTemplate] = {
    module.NAME: SlipTemplate(module.NAME, module.DESCRIPTION, module.render) for module in _MODULES
}


def template(name: str) -> SlipTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        known = "、".join(TEMPLATES)
        raise ConfigurationError(f"没有名为 {name} 的结算单模板；可用的模板：{known}") from None


def render_slip(data: SlipData, template_name: str | None = None, paper: str = PAPER_A4) -> bytes:
    """The slip's PDF (both copies) on the given paper, in the template of the stay's profile
    (`data.template`) unless one is named."""
    return template(template_name or data.template).render(data, paper)
