"""The slip templates, by name. A region's slip is one module; adding one is a new file here.

Each template module exposes `NAME`, `DESCRIPTION` and `render(data: SlipData, paper: str) -> bytes`
and prints the same `app.slips.SlipData`. The Guangdong slip (`003 附表3`) is the first;
the national cross-province slip (cf. the older 住院结算单 of `004 附件6`) will be a new
module beside it, registered in `_MODULES`, without edits inside the Guangdong one.
The site picks its template with the setting `slip.template`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.errors import ConfigurationError
from app.slips import PAPER_A4, SlipData
from printing import slip_guangdong


@dataclass(frozen=True)
class SlipTemplate:
    name: str
    description: str
    render: Callable[[SlipData, str], bytes]


_MODULES = (slip_guangdong,)

TEMPLATES: dict[str, SlipTemplate] = {
    module.NAME: SlipTemplate(module.NAME, module.DESCRIPTION, module.render) for module in _MODULES
}


def template(name: str) -> SlipTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        known = "、".join(TEMPLATES)
        raise ConfigurationError(f"没有名为 {name} 的结算单模板；可用的模板：{known}") from None


def render_slip(data: SlipData, template_name: str = slip_guangdong.NAME, paper: str = PAPER_A4) -> bytes:
    """The slip's PDF (both copies), in the named template, on the given paper."""
    return template(template_name).render(data, paper)
