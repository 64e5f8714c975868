"""Email templates: files in `email_templates/` named NAME.subject.txt, NAME.txt and NAME.html.

HTML is rendered with autoescaping, so context values can never inject markup. The API checks a
request's context against `required_variables` without rendering anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from jinja2 import meta

from offload_shared.errors import TemplateRenderError

__all__ = [
    "render",
]

PARTS = ("subject.txt", "txt", "html")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("offload_shared", "email_templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def names() -> frozenset[str]:
    folder = resources.files("offload_shared").joinpath("email_templates")
    return frozenset(
        entry.name.removesuffix(".subject.txt")
        for entry in folder.iterdir()
        if entry.name.endswith(".subject.txt")
    )


@cache
def required_variables(name: str) -> frozenset[str]:
    env = _environment()
    assert env.loader is not None
    found: set[str] = set()
    for part in PARTS:
        source, _, _ = env.loader.get_source(env, f"{name}.{part}")
        found |= meta.find_undeclared_variables(env.parse(source))
    return frozenset(found)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(name: str, context: dict[str, Any]) -> RenderedEmail:
    """Raises TemplateRenderError (a permanent task error) if the template cannot render."""
    env = _environment()
    try:
        subject = env.get_template(f"{name}.subject.txt").render(context)
        text = env.get_template(f"{name}.txt").render(context)
        html = env.get_template(f"{name}.html").render(context)
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(f"template {name!r}: {exc}") from exc
    # A subject is one line whatever the context holds: no header injection.
    return RenderedEmail(" ".join(subject.split()), text.strip() + "\n", html.strip() + "\n")
