"""dbt's hooks: a node's `pre_hook` and `post_hook` (from every config level), and
dbt_project.yml's `on-run-start` and `on-run-end`, each rendered to SQL."""

from __future__ import annotations

from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.dbt import DBT_PROJECT, DbtProject, hook_list
from tidegate.project.jinja import Renderer
from tidegate.project.model import THIS_PLACEHOLDER

_HOOK_KEYS = ("pre_hook", "pre-hook", "post_hook", "post-hook")


class Hooks:
    """Renders the hooks of one project."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def of_node(
        self,
        configs: list[dict[str, Any]],
        path: str,
        name: str,
        node: dict[str, Any],
        *,
        incremental: bool = False,
    ) -> dict[str, Any]:
        """`pre_hooks` and `post_hooks` of a node: the hooks of each config level add up, the
        most general first (dbt_project.yml's folders, properties, then `config()`), each
        rendered with `{{ this }}` as a placeholder."""
        if all(config.get(key) is None for config in configs for key in _HOOK_KEYS):
            return {"pre_hooks": (), "post_hooks": ()}  # most nodes: nothing to render
        found: dict[str, Any] = {}
        for which in ("pre_hook", "post_hook"):
            texts: list[str] = []
            for config in configs:
                for key in dict.fromkeys([which, which.replace("_", "-")]):
                    for hook in hook_list(config.get(key)):
                        texts.append(_hook_text(hook, path, name, which))
            rendered = [self._render(text, path, node, incremental=incremental) for text in texts]
            found[f"{which}s"] = tuple(sql for sql in rendered if sql)
        return found

    def on_run(self, dbt: DbtProject, key: str) -> tuple[str, ...]:
        """dbt_project.yml's `on-run-start` or `on-run-end`, rendered with the project's context."""
        data = dbt.data
        line = data.line_of(key) if key in data else None
        hooks = []
        for hook in hook_list(data.get(key)):
            try:
                text = _hook_text(hook, DBT_PROJECT, None, key)
                sql = self._render(text, DBT_PROJECT, None)
            except ProjectError as error:
                raise ProjectError(error.message, path=DBT_PROJECT, line=line, hint=error.hint) from None
            if THIS_PLACEHOLDER in sql.lower():
                raise ProjectError(f"{key}: {{{{ this }}}} has no meaning here", path=DBT_PROJECT, line=line)
            if sql:
                hooks.append(sql)
        return tuple(hooks)

    def _render(self, text: str, path: str, node: dict[str, Any] | None, *, incremental: bool = False) -> str:
        rendered = self._renderer.render(text, path, node=node, incremental=incremental)
        if rendered.refs:
            raise ProjectError(
                f"ref('{rendered.refs[0][0]}') in a hook is not supported: hooks may use "
                "{{ this }}, source(), var() and macros",
                path=path,
            )
        return rendered.text.strip().rstrip(";").strip()


def _hook_text(hook: Any, path: str, name: str | None, which: str) -> str:
    what = which.replace("_", "-")
    if isinstance(hook, dict):
        if hook.get("transaction", True) is False:
            raise ProjectError(
                f"{what} with transaction: false is not supported: tidegate runs hooks in the "
                "transaction of the build, so that a failed hook leaves nothing",
                path=path,
                model=name,
            )
        hook = hook.get("sql")
    if not isinstance(hook, str):
        raise ProjectError(f"a {what} is SQL text (or {{sql: ...}})", path=path, model=name)
    return hook
